"""Anchor geometry and the CTPN vertical/side coding."""

import numpy as np
import pytest

from pipeline.ctpn.anchors import decode_side, decode_vertical, encode_side, encode_vertical, make_anchors
from pipeline.nets.ctpn import ANCHOR_HEIGHTS


def test_anchor_grid_shape_centres_and_heights():
    a = make_anchors(3, 5)
    assert a.shape == (3, 5, 10, 4)
    assert a.dtype == np.float32
    i, j, k = np.meshgrid(np.arange(3), np.arange(5), np.arange(10), indexing="ij")
    np.testing.assert_array_equal((a[..., 0] + a[..., 2]) / 2, 16 * j + 8)
    np.testing.assert_array_equal((a[..., 1] + a[..., 3]) / 2, 16 * i + 8)
    np.testing.assert_array_equal(a[..., 2] - a[..., 0], 16)
    np.testing.assert_allclose(a[..., 3] - a[..., 1], np.array(ANCHOR_HEIGHTS)[k])


def test_one_anchor_exactly():
    a = make_anchors(2, 3)
    np.testing.assert_array_equal(a[1, 2, 0], [32, 24 - 5.5, 48, 24 + 5.5])
    np.testing.assert_array_equal(a[0, 0, 9], [0, 8 - 141.5, 16, 8 + 141.5])


def test_anchor_heights_grow_by_one_over_point_seven():
    assert ANCHOR_HEIGHTS[0] == 11 and len(ANCHOR_HEIGHTS) == 10
    ratios = np.array(ANCHOR_HEIGHTS[1:]) / np.array(ANCHOR_HEIGHTS[:-1])
    np.testing.assert_allclose(ratios, 1 / 0.7, rtol=0.03)


def test_encode_vertical_known_values():
    anchor = np.array([[0, 0, 16, 16]], dtype=np.float32)  # centre 8, height 16
    t = encode_vertical(anchor, np.array([0.0]), np.array([32.0]))
    np.testing.assert_allclose(t, [[0.5, np.log(2)]], rtol=1e-6)


def test_vertical_round_trip():
    rng = np.random.default_rng(0)
    anchors = make_anchors(4, 6)
    y0 = rng.uniform(0, 60, anchors.shape[:3]).astype(np.float32)
    y1 = y0 + rng.uniform(4, 120, anchors.shape[:3]).astype(np.float32)
    boxes = decode_vertical(anchors, encode_vertical(anchors, y0, y1))
    np.testing.assert_allclose(boxes[..., 1], y0, atol=1e-3)
    np.testing.assert_allclose(boxes[..., 3], y1, atol=1e-3)
    np.testing.assert_array_equal(boxes[..., [0, 2]], anchors[..., [0, 2]])  # x is never regressed


def test_decode_vertical_clips_extreme_heights():
    anchor = np.array([0, 0, 16, 16], dtype=np.float32)
    box = decode_vertical(anchor, np.array([0.0, 50.0], dtype=np.float32))
    assert box[3] - box[1] == pytest.approx(16 * np.exp(6.0), rel=1e-5)


def test_side_round_trip_and_known_value():
    anchors = make_anchors(1, 4)[0, :, 0]  # (4, 4)
    x = np.array([3.0, 20.0, 47.5, 60.0])
    o = encode_side(anchors, x)
    np.testing.assert_allclose(o, [(3 - 8) / 16, (20 - 24) / 16, (47.5 - 40) / 16, (60 - 56) / 16])
    np.testing.assert_allclose(decode_side(anchors, o), x, atol=1e-5)
