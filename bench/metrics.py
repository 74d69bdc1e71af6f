"""Accuracy measures of the benchmark, as issue 4 defines them.

* CER: text is NFKC-normalised and stripped of whitespace; predicted and true
  lines that overlap (intersection >= half of the smaller one's area) are
  joined into connected groups, each group's lines are read top-to-bottom,
  left-to-right and compared by edit distance; a line in no group counts in
  full. CER = sum of distances / sum of true characters.
* Detection: one-to-one matching at IoU >= 0.5, greedily by IoU; true lines
  marked difficult are don't-care (a prediction matched to one is ignored).
* Word accuracy (IIIT5K): lexicon-free, case-insensitive, letters and digits only.

Boxes are polygons (lists of (x, y)); axis-aligned boxes are 4-point polygons.
Geometry uses OpenCV's convex-polygon intersection, so rotated lines work.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Polygon = Sequence[tuple[float, float]]

OVERLAP_FRACTION = 0.5  # of the smaller polygon's area, for CER grouping
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class TextLine:
    polygon: Polygon
    text: str
    difficult: bool = False


# ---------------------------------------------------------------- text


def normalize(text: str) -> str:
    """NFKC, then drop every whitespace character."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def normalize_word(text: str) -> str:
    """Lexicon-free word comparison: case-insensitive, letters and digits only."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (unit costs).

    Row by row over ``a``; within a row, the insertion chain
    new[j] = min(tmp[j], new[j-1] + 1) is a running minimum of tmp[k] - k, so
    each row is a few vectorised numpy operations.
    """
    if a == b:
        return 0
    if not a or not b:
        return max(len(a), len(b))
    if len(a) < len(b):
        a, b = b, a
    codes_b = np.fromiter((ord(c) for c in b), dtype=np.int64, count=len(b))
    ramp = np.arange(len(b) + 1, dtype=np.int64)
    row = ramp.copy()
    for i, ch in enumerate(a, start=1):
        substitute = row[:-1] + (codes_b != ord(ch))
        delete = row[1:] + 1
        tmp = np.empty_like(row)
        tmp[0] = i
        np.minimum(substitute, delete, out=tmp[1:])
        row = np.minimum.accumulate(tmp - ramp) + ramp
    return int(row[-1])


# ---------------------------------------------------------------- geometry


def _as_array(polygon: Polygon) -> np.ndarray:
    pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
    return cv2.convexHull(pts).reshape(-1, 2)


def polygon_area(polygon: Polygon) -> float:
    return float(cv2.contourArea(_as_array(polygon)))


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    area, _ = cv2.intersectConvexConvex(a, b)
    return max(float(area), 0.0)


def intersection_area(p: Polygon, q: Polygon) -> float:
    return next((inter for _, _, inter, _, _ in pairwise_intersections([p], [q])), 0.0)


def pairwise_intersections(ps: Sequence[Polygon], qs: Sequence[Polygon]):
    """(i, j, intersection, area of ps[i], area of qs[j]) for every pair that intersects.

    Hulls and areas are computed once per polygon, and only pairs whose bounding
    boxes overlap are intersected, so a page of many lines stays cheap.
    """
    if not ps or not qs:
        return
    hp, hq = [_as_array(p) for p in ps], [_as_array(q) for q in qs]
    ap, aq = [float(cv2.contourArea(h)) for h in hp], [float(cv2.contourArea(h)) for h in hq]
    bp = np.array([[h[:, 0].min(), h[:, 1].min(), h[:, 0].max(), h[:, 1].max()] for h in hp])
    bq = np.array([[h[:, 0].min(), h[:, 1].min(), h[:, 0].max(), h[:, 1].max()] for h in hq])
    close = (
        (bp[:, None, 0] < bq[None, :, 2])
        & (bq[None, :, 0] < bp[:, None, 2])
        & (bp[:, None, 1] < bq[None, :, 3])
        & (bq[None, :, 1] < bp[:, None, 3])
    )
    for i, j in zip(*np.nonzero(close), strict=True):
        inter = _intersection(hp[i], hq[j])
        if inter > 0:
            yield int(i), int(j), inter, ap[i], aq[j]


def _iou(inter: float, area_p: float, area_q: float) -> float:
    union = area_p + area_q - inter
    return inter / union if union > 0 else 0.0


def _overlaps(inter: float, area_p: float, area_q: float, fraction: float = OVERLAP_FRACTION) -> bool:
    smaller = min(area_p, area_q)
    return smaller > 0 and inter >= fraction * smaller


def iou(p: Polygon, q: Polygon) -> float:
    return next((_iou(*found[2:]) for found in pairwise_intersections([p], [q])), 0.0)


def overlaps(p: Polygon, q: Polygon, fraction: float = OVERLAP_FRACTION) -> bool:
    """Intersection at least ``fraction`` of the smaller polygon's area."""
    return any(_overlaps(*found[2:], fraction) for found in pairwise_intersections([p], [q]))


def box_to_polygon(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


# ---------------------------------------------------------------- reading order


def reading_order(polygons: Sequence[Polygon]) -> list[int]:
    """Indices of ``polygons`` top-to-bottom, left-to-right.

    Lines whose vertical extents overlap by half the smaller height share a row,
    so pieces of one split line read left to right even when one sits a pixel higher.
    """
    spans = []
    for i, poly in enumerate(polygons):
        pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        spans.append((pts[:, 1].min(), pts[:, 1].max(), pts[:, 0].min(), i))
    spans.sort(key=lambda s: ((s[0] + s[1]) / 2, s[2]))
    rows: list[list[tuple]] = []
    for span in spans:
        row = rows[-1] if rows else None
        if row is not None:
            top, bottom = min(s[0] for s in row), max(s[1] for s in row)
            overlap = min(bottom, span[1]) - max(top, span[0])
            height = min(bottom - top, span[1] - span[0])
            if overlap >= 0.5 * height:
                row.append(span)
                continue
        rows.append([span])
    return [s[3] for row in rows for s in sorted(row, key=lambda s: s[2])]


# ---------------------------------------------------------------- CER


@dataclass
class CerCount:
    distance: int = 0
    true_chars: int = 0

    def add(self, other: CerCount) -> None:
        self.distance += other.distance
        self.true_chars += other.true_chars

    @property
    def cer(self) -> float:
        if self.true_chars == 0:
            return 0.0 if self.distance == 0 else float("inf")
        return self.distance / self.true_chars


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def overlap_groups(truth: Sequence[TextLine], pred: Sequence[TextLine]) -> list[tuple[list[int], list[int]]]:
    """Connected groups of true and predicted lines linked by :func:`overlaps`.

    Returns (true indices, predicted indices) per group; a line that overlaps
    nothing forms a group of its own with an empty other side.
    """
    n = len(truth)
    parent = list(range(n + len(pred)))
    for i, j, *areas in pairwise_intersections([t.polygon for t in truth], [p.polygon for p in pred]):
        if _overlaps(*areas):
            ri, rj = _find(parent, i), _find(parent, n + j)
            if ri != rj:
                parent[rj] = ri
    members: dict[int, tuple[list[int], list[int]]] = {}
    for k in range(n + len(pred)):
        group = members.setdefault(_find(parent, k), ([], []))
        if k < n:
            group[0].append(k)
        else:
            group[1].append(k - n)
    return list(members.values())


def _joined(lines: Sequence[TextLine], indices: list[int]) -> str:
    chosen = [lines[i] for i in indices]
    order = reading_order([line.polygon for line in chosen])
    return "".join(normalize(chosen[k].text) for k in order)


def page_cer(truth: Sequence[TextLine], pred: Sequence[TextLine]) -> CerCount:
    count = CerCount(true_chars=sum(len(normalize(t.text)) for t in truth))
    for true_idx, pred_idx in overlap_groups(truth, pred):
        count.distance += edit_distance(_joined(truth, true_idx), _joined(pred, pred_idx))
    return count


def text_cer(truth: str, pred: str) -> CerCount:
    """CER of one recognised line against its transcription (same normalisation)."""
    t, p = normalize(truth), normalize(pred)
    return CerCount(distance=edit_distance(t, p), true_chars=len(t))


# ---------------------------------------------------------------- detection


@dataclass
class DetectionCount:
    matched: int = 0
    predicted: int = 0  # excluding predictions matched to don't-care lines
    true: int = 0  # excluding don't-care lines

    def add(self, other: DetectionCount) -> None:
        self.matched += other.matched
        self.predicted += other.predicted
        self.true += other.true

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else (1.0 if self.true == 0 else 0.0)

    @property
    def recall(self) -> float:
        return self.matched / self.true if self.true else (1.0 if self.predicted == 0 else 0.0)

    @property
    def hmean(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def match_lines(truth: Sequence[TextLine], pred: Sequence[TextLine], threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """One-to-one (true index, predicted index) pairs with IoU >= threshold, greedily by IoU."""
    candidates = []
    for i, j, *areas in pairwise_intersections([t.polygon for t in truth], [p.polygon for p in pred]):
        score = _iou(*areas)
        if score >= threshold:
            candidates.append((score, i, j))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_true, used_pred, pairs = set(), set(), []
    for _, i, j in candidates:
        if i not in used_true and j not in used_pred:
            used_true.add(i)
            used_pred.add(j)
            pairs.append((i, j))
    return pairs


def page_detection(truth: Sequence[TextLine], pred: Sequence[TextLine]) -> DetectionCount:
    pairs = match_lines(truth, pred)
    dont_care = sum(1 for i, _ in pairs if truth[i].difficult)
    return DetectionCount(
        matched=len(pairs) - dont_care,
        predicted=len(pred) - dont_care,
        true=sum(1 for t in truth if not t.difficult),
    )


# ---------------------------------------------------------------- words


def word_correct(truth: str, pred: str) -> bool:
    return normalize_word(truth) == normalize_word(pred)
