"""CTPN anchor targets on hand-made lines: exact positives, ignores, vertical and side targets."""

import math

import numpy as np

from pipeline.ctpn.anchors import decode_side, decode_vertical, make_anchors
from training.ctpn_targets import assign, line_slices
from training.pages import box_quad

# one line from x=20 to x=100, y=44 to y=68 (height 24, centre 56) on a 160 x 128 image:
# columns 1..5 are covered by >= 8 px (column 1 by 12, columns 2..5 fully), column 6 only by 4 px.
LINE = box_quad(20, 44, 100, 68)[None]


def test_slices_of_a_straight_line():
    s = line_slices(LINE, 160, 128)
    np.testing.assert_array_equal(s.col, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(s.strong, [True, True, True, True, True, False])
    np.testing.assert_allclose(s.y0, 44)
    np.testing.assert_allclose(s.y1, 68)


def test_exact_positive_anchors_and_vertical_targets():
    t = assign(LINE, 160, 128)
    assert t.labels.shape == (10, 8, 10)
    # row 3 (centre y 56): anchor height 23 has IoU 23/24, height 33 has IoU 24/33 = 0.727 > 0.7
    expected = [[3, j, k] for j in range(1, 6) for k in (2, 3)]
    assert np.argwhere(t.labels == 1).tolist() == expected
    np.testing.assert_allclose(t.vertical[3, 1:6, 2], [[0.0, math.log(24 / 23)]] * 5, atol=1e-6)
    np.testing.assert_allclose(t.vertical[3, 1:6, 3], [[0.0, math.log(24 / 33)]] * 5, atol=1e-6)
    # decoding the targets gives the line back
    a = make_anchors(10, 8)
    np.testing.assert_allclose(decode_vertical(a[3, 2, 2], t.vertical[3, 2, 2])[[1, 3]], [44, 68], atol=1e-4)


def test_ignored_anchors_between_the_thresholds_and_at_the_ragged_end():
    t = assign(LINE, 160, 128)
    ignored = {tuple(x) for x in np.argwhere(t.labels == -1).tolist()}
    # heights 16 (IoU 0.667) and 48 (IoU 0.5) in the strong columns
    for j in range(1, 6):
        assert {(3, j, 1), (3, j, 4)} <= ignored
    # column 6 holds only 4 px of the line: anchors that would be positive are ignored, not positive
    assert {(3, 6, 1), (3, 6, 2), (3, 6, 3), (3, 6, 4)} <= ignored
    assert len(ignored) == 14
    assert (t.labels[:, 0] == 0).all() and (t.labels[:, 7] == 0).all()
    assert (t.labels[[0, 1, 2, 4, 5, 6, 7, 8, 9]] != 1).all()


def test_side_targets_near_the_line_ends_only():
    t = assign(LINE, 160, 128)
    assert np.argwhere(t.side_mask).tolist() == [[3, j, k] for j in (1, 2, 4, 5) for k in (2, 3)]
    # column centres 24, 40 are within 32 px of the left end (x=20); 72, 88 of the right end (x=100)
    np.testing.assert_allclose(t.side[3, [1, 2, 4, 5], 2], [(20 - 24) / 16, (20 - 40) / 16, (100 - 72) / 16, (100 - 88) / 16])
    a = make_anchors(10, 8)
    assert decode_side(a[3, 1, 2], t.side[3, 1, 2]) == 20
    assert not t.side_mask[3, 3].any()  # centre 56: 36 px from the left end, 44 from the right


def test_best_anchor_is_positive_even_below_the_threshold():
    # y 40..60: no anchor reaches IoU 0.7; the best (row 3, height 33, IoU 20/33) becomes positive
    t = assign(box_quad(20, 40, 100, 60)[None], 160, 128)
    assert np.argwhere(t.labels == 1).tolist() == [[3, j, 3] for j in range(1, 6)]
    np.testing.assert_allclose(t.vertical[3, 1, 3], [(50 - 56) / 33, math.log(20 / 33)], rtol=1e-6)


def test_slice_without_ink_is_ignored_not_positive():
    ink = np.zeros((160, 128), bool)
    ink[46:66, 20:50] = True  # ink in columns 1..3; the line's space over columns 4, 5 is blank
    t = assign(LINE, 160, 128, ink)
    assert np.argwhere(t.labels == 1)[:, 1].tolist() == [1, 1, 2, 2, 3, 3]
    assert (t.labels[3, 4:6, 2:4] == -1).all()


def test_line_cut_by_the_image_top_makes_no_positives():
    t = assign(box_quad(20, -6, 100, 18)[None], 160, 128)
    assert not (t.labels == 1).any()
    assert (t.labels == -1).any()


def test_tilted_line_slices_follow_its_edges():
    quad = np.array([[[16, 40], [112, 52], [112, 72], [16, 60]]], np.float32)  # slope 1/8
    s = line_slices(quad, 160, 128)
    np.testing.assert_array_equal(s.col, [1, 2, 3, 4, 5, 6])
    centres = 16 * s.col + 8
    np.testing.assert_allclose(s.y0, 40 + (centres - 16) / 8)
    np.testing.assert_allclose(s.y1 - s.y0, 20)
