"""Reading order of text lines: top to bottom, left to right within each column.

Lines are boxes in the upright, deskewed frame. The page is cut recursively:

1. a column split is a vertical gap of at least ``min_gap`` (in median line
   heights) with no line crossing it, with at least ``min_column_lines`` lines on
   each side and lines on each side that are long (median width at least
   ``min_column_aspect`` line heights) -- short cells in aligned rows are a
   table, not columns; the left side is read before the right;
2. otherwise the lines are cut into horizontal bands at the vertical gaps
   between them, and consecutive bands that share a free vertical strip are
   kept together as one section (a title across both columns ends a section),
   and each section is ordered on its own;
3. a section that cannot be cut any further is read row by row: lines that
   overlap vertically by half the smaller height share a row and are read left
   to right, each staying its own line (cells of a table row stay separate).

``blocks`` then groups the ordered lines into blocks (paragraphs, headings,
cells): a line joins the block before it when it sits below that block's last
line, no further than ``block_gap`` line heights under it, overlaps the block
horizontally and has about the same height (a heading's larger type, a new
column or the next cell of a row starts a block of its own).
"""

from __future__ import annotations

import numpy as np


def _free_strips(boxes: np.ndarray, min_gap: float) -> list[tuple[float, float]]:
    """x-intervals of at least ``min_gap`` that no box crosses, with boxes on both sides."""
    lo = int(np.floor(boxes[:, 0].min()))
    n = int(np.ceil(boxes[:, 2].max())) - lo
    diff = np.zeros(n + 1, dtype=np.int32)
    np.add.at(diff, np.floor(boxes[:, 0]).astype(int) - lo, 1)
    np.add.at(diff, np.ceil(boxes[:, 2]).astype(int) - lo, -1)
    covered = np.cumsum(diff)[:-1] > 0  # (n,): pixel column x covered by some box
    edges = np.flatnonzero(np.diff(np.concatenate([[1], covered.astype(np.int8), [1]])))
    return [(float(a + lo), float(b + lo)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_gap]


class ReadingOrder:
    def __init__(
        self,
        min_gap: float = 1.0,
        min_column_lines: int = 3,
        min_column_aspect: float = 6.0,
        same_row: float = 0.5,
        block_gap: float = 0.75,
        block_height_ratio: float = 1.4,
    ):
        self.min_gap = min_gap
        self.min_column_lines = min_column_lines
        self.min_column_aspect = min_column_aspect
        self.same_row = same_row
        self.block_gap = block_gap
        self.block_height_ratio = block_height_ratio

    def __call__(self, boxes) -> list[int]:
        """Boxes (N, 4) x0, y0, x1, y1 -> line indices in reading order."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return []
        gap = max(1.0, self.min_gap * float(np.median(boxes[:, 3] - boxes[:, 1])))
        return [int(i) for i in self._order(boxes, np.arange(len(boxes)), gap)]

    def blocks(self, boxes) -> list[list[int]]:
        """Boxes (N, 4) -> blocks in reading order, each a list of line indices in reading order."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        out: list[list[int]] = []
        left = right = 0.0
        for i in self(boxes):
            if out and self._continues(boxes[out[-1][-1]], boxes[i], left, right):
                out[-1].append(i)
                left, right = min(left, boxes[i, 0]), max(right, boxes[i, 2])
            else:
                out.append([i])
                left, right = boxes[i, 0], boxes[i, 2]
        return out

    def _continues(self, above: np.ndarray, line: np.ndarray, left: float, right: float) -> bool:
        h_above, h_line = above[3] - above[1], line[3] - line[1]
        small, large = sorted((max(h_above, 1e-6), max(h_line, 1e-6)))
        return (
            line[1] >= above[1] + self.same_row * small  # below, not beside
            and line[1] - above[3] <= self.block_gap * large
            and min(right, line[2]) > max(left, line[0])
            and large <= self.block_height_ratio * small
        )

    def _is_column(self, boxes: np.ndarray) -> bool:
        if len(boxes) < self.min_column_lines:
            return False
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        return float(np.median(widths)) >= self.min_column_aspect * float(np.median(heights))

    def _column_split(self, boxes: np.ndarray, idx: np.ndarray, gap: float) -> tuple[np.ndarray, np.ndarray] | None:
        strips = _free_strips(boxes[idx], gap)
        for a, b in sorted(strips, key=lambda s: s[0] - s[1]):  # widest first
            cut = (a + b) / 2
            left, right = idx[boxes[idx, 2] <= cut], idx[boxes[idx, 0] >= cut]
            if self._is_column(boxes[left]) and self._is_column(boxes[right]):
                return left, right
        return None

    def _bands(self, boxes: np.ndarray, idx: np.ndarray) -> list[np.ndarray]:
        """Split at y positions that no line crosses, top to bottom."""
        order = idx[np.argsort(boxes[idx, 1], kind="stable")]
        bands, current, bottom = [], [order[0]], boxes[order[0], 3]
        for i in order[1:]:
            if boxes[i, 1] >= bottom:
                bands.append(np.array(current))
                current = []
            current.append(i)
            bottom = max(bottom, boxes[i, 3])
        bands.append(np.array(current))
        return bands

    def _sections(self, boxes: np.ndarray, bands: list[np.ndarray], gap: float) -> list[np.ndarray]:
        """Merge consecutive bands while they keep a common free vertical strip."""
        sections, current = [], [bands[0]]
        for band in bands[1:]:
            merged = np.concatenate(current + [band])
            if _free_strips(boxes[merged], gap):
                current.append(band)
            else:
                sections.append(np.concatenate(current))
                current = [band]
        sections.append(np.concatenate(current))
        return sections

    def _order(self, boxes: np.ndarray, idx: np.ndarray, gap: float) -> list[int]:
        if len(idx) <= 1:
            return list(idx)
        split = self._column_split(boxes, idx, gap)
        if split is not None:
            return self._order(boxes, split[0], gap) + self._order(boxes, split[1], gap)
        bands = self._bands(boxes, idx)
        if len(bands) > 1:
            sections = self._sections(boxes, bands, gap)
            if len(sections) > 1:
                return [i for s in sections for i in self._order(boxes, s, gap)]
        return self._rows(boxes, idx)

    def _rows(self, boxes: np.ndarray, idx: np.ndarray) -> list[int]:
        order = idx[np.argsort((boxes[idx, 1] + boxes[idx, 3]) / 2, kind="stable")]
        rows: list[list[int]] = []
        top = bottom = 0.0
        for i in order:
            y0, y1 = boxes[i, 1], boxes[i, 3]
            overlap = min(y1, bottom) - max(y0, top)
            if rows and overlap >= self.same_row * min(y1 - y0, bottom - top):
                rows[-1].append(i)
                top, bottom = min(top, y0), max(bottom, y1)
            else:
                rows.append([i])
                top, bottom = y0, y1
        return [i for row in rows for i in sorted(row, key=lambda k: (boxes[k, 0], k))]


def reading_order(boxes) -> list[int]:
    """Line indices in reading order with the default settings."""
    return ReadingOrder()(boxes)
