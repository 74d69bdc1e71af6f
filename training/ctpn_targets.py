"""CTPN training targets: ground-truth lines -> per-anchor labels, vertical and side-refinement targets.

Each line is cut into slices on the anchor grid, one per 16-px column it
covers; a slice spans the line's top and bottom edges at the column's centre.
An anchor of column j is compared with the slices of column j only, by
vertical IoU (anchor and slice share the column's x range):

    positive   IoU > 0.7 with a slice, or the best anchor of a slice
    negative   IoU < 0.5 with every slice of its column
    ignored    anything between, and anchors over "weak" slices

A slice is weak -- it may not make positives, only hide negatives -- when the
line covers less than half of the column (a line's ragged end), when no ink
falls inside it (a wide space inside a line) or when the line is cut by the
image's top or bottom edge (a crop). Positives get vertical targets
``encode_vertical`` against their best slice; positives within 32 px of a
line's left or right end get the side-refinement target ``encode_side`` of
that end, the nearer one when both are in reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.ctpn.anchors import encode_side, encode_vertical, make_anchors
from pipeline.nets.ctpn import ANCHOR_HEIGHTS, STRIDE

POSITIVE_IOU = 0.7
NEGATIVE_IOU = 0.5
SIDE_RANGE = 32.0  # px between an anchor's centre and a line end for side refinement
MIN_COVER = 8.0  # px of a column a line must cover for its slice to be strong
MIN_INK = 2  # ink pixels a strong slice must hold


@dataclass
class Slices:
    col: np.ndarray  # (n,) int column index
    y0: np.ndarray  # (n,) float top
    y1: np.ndarray  # (n,) float bottom
    line: np.ndarray  # (n,) int index of the line it belongs to
    strong: np.ndarray  # (n,) bool


@dataclass
class Targets:
    labels: np.ndarray  # (h, w, K) int8: 1 text, 0 background, -1 ignored
    vertical: np.ndarray  # (h, w, K, 2) float32 (vc, vh), meaningful where labels == 1
    side: np.ndarray  # (h, w, K) float32 side offset, meaningful where side_mask
    side_mask: np.ndarray  # (h, w, K) bool


def line_ends(quads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right x of each quad (N, 4, 2), at mid-height."""
    return (quads[:, 0, 0] + quads[:, 3, 0]) / 2, (quads[:, 1, 0] + quads[:, 2, 0]) / 2


def _edge_y(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y of the line through points p and q at x (horizontal when p and q share x)."""
    dx = q[0] - p[0]
    slope = (q[1] - p[1]) / dx if abs(dx) > 1e-6 else 0.0
    return p[1] + slope * (x - p[0])


def line_slices(
    quads: np.ndarray, height: int, width: int, ink: np.ndarray | None = None, min_cover: float = MIN_COVER
) -> Slices:
    """Cut each line (N, 4, 2) into one slice per anchor column it touches, inside an image height x width."""
    cols, y0s, y1s, lines, strong = [], [], [], [], []
    xls, xrs = line_ends(quads)
    for n, (q, xl, xr) in enumerate(zip(quads, xls, xrs, strict=True)):
        if xr - xl < 1:
            continue
        first, last = int(max(xl, 0) // STRIDE), int(np.ceil(min(xr, width) / STRIDE)) - 1
        if last < first:
            continue
        j = np.arange(first, last + 1)
        a, b = np.maximum(j * STRIDE, xl), np.minimum(j * STRIDE + STRIDE, xr)
        cover = b - a
        keep = cover > 0
        j, a, b, cover = j[keep], a[keep], b[keep], cover[keep]
        xc = (a + b) / 2
        top, bottom = _edge_y(q[0], q[1], xc), _edge_y(q[3], q[2], xc)
        ok = (cover >= min(min_cover, 0.5 * (xr - xl))) & (top >= 0) & (bottom <= height) & (bottom - top >= 1)
        if ink is not None:
            for i in np.flatnonzero(ok):
                r0, r1 = max(int(top[i]), 0), min(int(np.ceil(bottom[i])), height)
                c0, c1 = int(a[i]), int(np.ceil(b[i]))
                ok[i] = int(ink[r0:r1, c0:c1].sum()) >= MIN_INK
        cols.append(j)
        y0s.append(top)
        y1s.append(bottom)
        lines.append(np.full(len(j), n))
        strong.append(ok)
    if not cols:
        empty = np.zeros(0)
        return Slices(empty.astype(int), empty, empty, empty.astype(int), empty.astype(bool))
    return Slices(np.concatenate(cols), np.concatenate(y0s), np.concatenate(y1s), np.concatenate(lines), np.concatenate(strong))


def vertical_iou(y0: np.ndarray, y1: np.ndarray, h: int, heights=ANCHOR_HEIGHTS) -> np.ndarray:
    """IoU of slices (n,) with the anchors of one column: (n, h, K)."""
    hk = np.asarray(heights, dtype=np.float64)[None, None, :]
    cy = (np.arange(h) * STRIDE + STRIDE / 2.0)[None, :, None]
    a0, a1 = cy - hk / 2, cy + hk / 2
    t0, t1 = y0[:, None, None], y1[:, None, None]
    inter = np.clip(np.minimum(a1, t1) - np.maximum(a0, t0), 0, None)
    union = np.maximum(a1, t1) - np.minimum(a0, t0)
    return inter / union


def assign(quads: np.ndarray, height: int, width: int, ink: np.ndarray | None = None) -> Targets:
    """Targets for an image of height x width (multiples of 16) holding lines ``quads`` (N, 4, 2)."""
    h, w, k = height // STRIDE, width // STRIDE, len(ANCHOR_HEIGHTS)
    quads = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2)
    labels = np.zeros((h, w, k), dtype=np.int8)
    vertical = np.zeros((h, w, k, 2), dtype=np.float32)
    side = np.zeros((h, w, k), dtype=np.float32)
    side_mask = np.zeros((h, w, k), dtype=bool)
    s = line_slices(quads, height, width, ink)
    if len(s.col) == 0:
        return Targets(labels, vertical, side, side_mask)
    iou = vertical_iou(s.y0, s.y1, h)  # (n, h, K)
    strong_iou = np.where(s.strong[:, None, None], iou, -1.0)
    owner = np.full((h, w, k), -1, dtype=np.int64)
    for j in np.unique(s.col):
        idx = np.flatnonzero(s.col == j)
        best_strong = strong_iou[idx].max(axis=0)  # (h, K)
        pos = best_strong > POSITIVE_IOU
        for n in idx[s.strong[idx]]:  # every strong slice gets its best anchor
            flat = int(np.argmax(iou[n]))
            if iou[n].flat[flat] > 0:
                pos.flat[flat] = True
        ignore = ~pos & (iou[idx].max(axis=0) >= NEGATIVE_IOU)
        labels[:, j][pos] = 1
        labels[:, j][ignore] = -1
        owner[:, j][pos] = idx[np.argmax(strong_iou[idx], axis=0)][pos]

    anchors = make_anchors(h, w)
    pos = labels == 1
    own = owner[pos]
    vertical[pos] = encode_vertical(anchors[pos], s.y0[own].astype(np.float32), s.y1[own].astype(np.float32))

    # side refinement: the nearer end of the anchor's line, when in reach and inside the image
    xl, xr = line_ends(quads)
    line = s.line[own]
    cx = (anchors[pos][:, 0] + anchors[pos][:, 2]) / 2
    left, right = xl[line], xr[line]
    dl = np.where(left >= 0, np.abs(cx - left), np.inf)
    dr = np.where(right <= width, np.abs(cx - right), np.inf)
    end = np.where(dl <= dr, left, right)
    near = np.minimum(dl, dr) <= SIDE_RANGE
    offsets = encode_side(anchors[pos], end.astype(np.float32))
    side_pos = np.zeros(int(pos.sum()), dtype=bool)
    side_pos[near] = True
    side[pos] = np.where(near, offsets, 0.0)
    side_mask[pos] = side_pos
    return Targets(labels, vertical, side, side_mask)


def ignore_regions(labels: np.ndarray, quads: np.ndarray) -> None:
    """Turn background anchors whose centre falls in one of ``quads`` (N, 4, 2) to ignored, in place:
    regions labelled don't-care teach neither text nor background."""
    h, w, _ = labels.shape
    for q in np.asarray(quads, dtype=np.float64).reshape(-1, 4, 2):
        x0, y0 = q.min(0)
        x1, y1 = q.max(0)
        j0, j1 = max(0, int(np.ceil((x0 - STRIDE / 2) / STRIDE))), min(w, int(np.floor((x1 - STRIDE / 2) / STRIDE)) + 1)
        i0, i1 = max(0, int(np.ceil((y0 - STRIDE / 2) / STRIDE))), min(h, int(np.floor((y1 - STRIDE / 2) / STRIDE)) + 1)
        if j0 < j1 and i0 < i1:
            cells = labels[i0:i1, j0:j1]
            cells[cells == 0] = -1
