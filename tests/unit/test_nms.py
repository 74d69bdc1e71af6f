"""Box, column and polygon non-maximum suppression."""

import numpy as np

from pipeline.ctpn.nms import column_nms, iou_matrix, nms, polygon_nms


def test_iou_matrix_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10], [0, 0, 0, 0]])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0, 0.0]])


def test_nms_suppresses_overlaps_and_keeps_order():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 10], [21, 0, 31, 10]])
    scores = np.array([0.8, 0.9, 0.7, 0.95])
    # 3 beats 2 (IoU 0.818); 1 beats 0
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [3, 1])
    np.testing.assert_array_equal(nms(boxes, scores, 0.9), [3, 1, 0, 2])


def test_nms_ties_go_to_the_lower_index():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]])
    np.testing.assert_array_equal(nms(boxes, np.array([0.5, 0.5]), 0.3), [0])
    assert len(nms(np.zeros((0, 4)), np.zeros(0), 0.3)) == 0


def test_column_nms_hand_made():
    # column 0: three stacked proposals, the middle one overlaps both others; column 16: one
    boxes = np.array([[0, 0, 16, 20], [0, 5, 16, 25], [0, 30, 16, 50], [16, 0, 16 + 16, 20]], dtype=float)
    scores = np.array([0.8, 0.9, 0.75, 0.6])
    keep = column_nms(boxes, scores, 0.3)
    np.testing.assert_array_equal(keep, [1, 2, 3])


def test_column_nms_equals_plain_nms_on_ctpn_like_proposals():
    rng = np.random.default_rng(1)
    n = 600
    col = rng.integers(0, 12, n) * 16.0
    y0 = rng.uniform(0, 300, n)
    h = rng.choice([11, 16, 23, 33, 48], n).astype(float)
    boxes = np.stack([col, y0, col + 16, y0 + h], axis=1)
    scores = rng.uniform(0.7, 1.0, n)
    for thr in (0.2, 0.5):
        assert sorted(column_nms(boxes, scores, thr).tolist()) == sorted(nms(boxes, scores, thr).tolist())


def test_polygon_nms_uses_true_overlap_of_tilted_quads():
    # two parallel lines tilted by ~10 deg: their boxes overlap a lot, the quads do not
    a = np.array([[0, 0], [200, 35], [200, 55], [0, 20]], dtype=np.float32)
    b = a + np.array([0, 25], dtype=np.float32)
    c = a + np.array([2, 1], dtype=np.float32)  # nearly the same as a
    keep = polygon_nms(np.stack([a, b, c]), np.array([0.9, 0.8, 0.85]), 0.3)
    np.testing.assert_array_equal(keep, [0, 1])
