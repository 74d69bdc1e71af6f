"""Line-detection scores: one-to-one matching of predicted and true quadrilaterals at IoU >= 0.5."""

from __future__ import annotations

import cv2
import numpy as np


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two convex polygons (n, 2)."""
    a = cv2.convexHull(np.asarray(a, dtype=np.float32))
    b = cv2.convexHull(np.asarray(b, dtype=np.float32))
    area_a, area_b = cv2.contourArea(a), cv2.contourArea(b)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(a, b)
    return float(inter / (area_a + area_b - inter)) if inter > 0 else 0.0


def match_count(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> int:
    """Matched pairs between predicted (P, 4, 2) and true (T, 4, 2) lines, greedily by IoU, each used once."""
    pred = np.asarray(pred, dtype=np.float32).reshape(-1, 4, 2)
    truth = np.asarray(truth, dtype=np.float32).reshape(-1, 4, 2)
    if len(pred) == 0 or len(truth) == 0:
        return 0
    pb = np.concatenate([pred.min(1), pred.max(1)], axis=1)  # (P, 4) bounding boxes to skip far pairs
    tb = np.concatenate([truth.min(1), truth.max(1)], axis=1)
    near = ((pb[:, None, 0] < tb[None, :, 2]) & (tb[None, :, 0] < pb[:, None, 2])
            & (pb[:, None, 1] < tb[None, :, 3]) & (tb[None, :, 1] < pb[:, None, 3]))
    pairs = []
    for i, j in zip(*np.nonzero(near), strict=True):
        iou = polygon_iou(pred[i], truth[j])
        if iou >= threshold:
            pairs.append((iou, i, j))
    pairs.sort(reverse=True)
    used_p, used_t, n = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            n += 1
    return n


class DetectionScore:
    """Accumulates matches over pages; precision, recall and H-mean over all lines."""

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold
        self.matched = self.predicted = self.true = 0

    def add(self, pred: np.ndarray, truth: np.ndarray) -> None:
        self.matched += match_count(pred, truth, self.threshold)
        self.predicted += len(pred)
        self.true += len(truth)

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.true if self.true else 0.0

    @property
    def hmean(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0
