"""Non-maximum suppression for boxes, for CTPN's column proposals, and for line quadrilaterals."""

from __future__ import annotations

import cv2
import numpy as np


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of boxes (N, 4), x0, y0, x1, y1."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def intersection_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas of boxes a (N, 4) with boxes b (M, 4), both x0, y0, x1, y1 -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    return iw * ih


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) against boxes b (M, 4), both x0, y0, x1, y1 -> (N, M)."""
    inter = intersection_matrix(a, b)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices of kept boxes, highest score first (ties: lower index first).

    A box is suppressed when its IoU with a kept, higher-scoring box exceeds the threshold.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou_matrix(boxes[i : i + 1], boxes[rest])[0] <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def column_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS for CTPN proposals, which share their column's x range or do not overlap at all.

    Same result as ``nms`` for such boxes (as a set), computed for all columns at
    once: step r settles the r-th best proposal of every column together, so the
    Python loop runs as many times as the busiest column has proposals, not once
    per kept box. Returns kept indices ordered by column, then score.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(n), -scores, boxes[:, 0]))  # by column, then score, then index
    col_ids, col_of = np.unique(boxes[order, 0], return_inverse=True)
    counts = np.bincount(col_of, minlength=len(col_ids))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(n) - starts[col_of]
    width = int(counts.max())

    index = np.full((len(col_ids), width), -1, dtype=np.int64)  # (columns, rank) -> proposal
    index[col_of, rank] = order
    valid = index >= 0
    y0 = np.where(valid, boxes[index, 1], 0.0)
    y1 = np.where(valid, boxes[index, 3], 0.0)
    height = y1 - y0
    alive = valid.copy()
    for r in range(width - 1):
        cols = np.flatnonzero(alive[:, r])
        if len(cols) == 0:
            continue
        inter = np.clip(
            np.minimum(y1[cols, r : r + 1], y1[cols, r + 1 :]) - np.maximum(y0[cols, r : r + 1], y0[cols, r + 1 :]), 0, None
        )
        union = height[cols, r : r + 1] + height[cols, r + 1 :] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        alive[cols, r + 1 :] &= iou <= iou_threshold
    return index[alive]


def polygon_nms(polygons: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS on convex quadrilaterals (N, 4, 2) by their true overlap; kept indices, best first."""
    polygons = np.asarray(polygons, dtype=np.float32).reshape(-1, 4, 2)
    boxes = np.concatenate([polygons.min(axis=1), polygons.max(axis=1)], axis=1)
    areas = np.array([abs(cv2.contourArea(p)) for p in polygons])
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep = []
    settled = np.zeros(len(polygons), dtype=bool)  # kept or suppressed
    for i in order:
        if settled[i]:
            continue
        keep.append(i)
        settled[i] = True
        touching = np.flatnonzero(~settled & (iou_matrix(boxes[i : i + 1], boxes)[0] > 0))
        for j in touching:
            inter, _ = cv2.intersectConvexConvex(polygons[i], polygons[j])
            union = areas[i] + areas[j] - inter
            if union > 0 and inter / union > iou_threshold:
                settled[j] = True
    return np.asarray(keep, dtype=np.int64)
