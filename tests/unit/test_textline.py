"""The text-line constructor on hand-made proposals."""

import numpy as np
import pytest

from pipeline.ctpn.textline import build_lines, chain_labels, link_proposals


def props(columns, y0, y1):
    """Proposals in the given 16-px columns (x0 values), all spanning y0..y1."""
    return np.array([[x, y0, x + 16, y1] for x in columns], dtype=float)


def polygon(line):
    return line.polygon.tolist()


def test_one_straight_line():
    boxes = props([0, 16, 32, 48, 64], 10, 30)
    scores = np.array([0.9, 0.8, 0.9, 0.8, 0.9])
    lines = build_lines(boxes, scores)
    assert len(lines) == 1
    assert polygon(lines[0]) == [[0, 10], [80, 10], [80, 30], [0, 30]]
    assert lines[0].score == pytest.approx(0.86)
    assert lines[0].num_proposals == 5
    assert lines[0].bbox == (0, 10, 80, 30)


def test_input_order_does_not_matter():
    boxes = props([0, 16, 32, 48, 64], 10, 30)
    perm = np.array([3, 0, 4, 2, 1])
    lines = build_lines(boxes[perm], np.full(5, 0.8))
    assert [polygon(ln) for ln in lines] == [[[0, 10], [80, 10], [80, 30], [0, 30]]]


def test_two_lines_on_one_row_separated_by_a_wide_gap():
    boxes = np.concatenate([props([0, 16, 32], 10, 30), props([112, 128], 10, 30)])  # gap 112 - 32 = 80 > 50
    lines = build_lines(boxes, np.full(5, 0.8))
    assert sorted(polygon(ln) for ln in lines) == [
        [[0, 10], [48, 10], [48, 30], [0, 30]],
        [[112, 10], [144, 10], [144, 30], [112, 30]],
    ]


def test_gap_of_fifty_pixels_or_less_is_bridged():
    boxes = np.concatenate([props([0, 16], 10, 30), props([64, 80], 10, 30)])  # 64 - 16 = 48
    lines = build_lines(boxes, np.full(4, 0.8))
    assert [polygon(ln) for ln in lines] == [[[0, 10], [96, 10], [96, 30], [0, 30]]]
    assert len(build_lines(boxes, np.full(4, 0.8), max_gap=40)) == 2


def test_two_vertically_stacked_lines():
    boxes = np.concatenate([props([0, 16, 32], 10, 30), props([0, 16, 32], 40, 60)])
    lines = build_lines(boxes, np.full(6, 0.8))
    assert sorted(polygon(ln) for ln in lines) == [
        [[0, 10], [48, 10], [48, 30], [0, 30]],
        [[0, 40], [48, 40], [48, 60], [0, 60]],
    ]


def test_tilted_line_gets_a_tilted_quad():
    cx = np.array([8.0, 24.0, 40.0, 56.0])
    top = 10 + 0.25 * cx
    boxes = np.stack([cx - 8, top, cx + 8, top + 20], axis=1)
    (line,) = build_lines(boxes, np.full(4, 0.8))
    np.testing.assert_allclose(line.polygon, [[0, 10], [64, 26], [64, 46], [0, 30]], atol=1e-4)


def test_poor_vertical_overlap_or_size_breaks_the_line():
    # overlap 13/20 = 0.65 < 0.7
    boxes = np.concatenate([props([0, 16], 10, 30), props([32, 48], 17, 37)])
    assert len(build_lines(boxes, np.full(4, 0.8))) == 2
    # heights 20 vs 13: similarity 0.65 < 0.7, although the smaller lies inside the larger
    boxes = np.concatenate([props([0, 16], 10, 30), props([32, 48], 12, 25)])
    assert len(build_lines(boxes, np.full(4, 0.8))) == 2


def test_single_proposals_need_a_strong_score():
    boxes = np.concatenate([props([0], 10, 30), props([200], 10, 30)])
    lines = build_lines(boxes, np.array([0.85, 0.95]))
    assert [polygon(ln) for ln in lines] == [[[200, 10], [216, 10], [216, 30], [200, 30]]]
    assert lines[0].num_proposals == 1


def test_link_requires_mutual_best_neighbours():
    # proposals 0 and 1 share column 0; 2 is to the right of both; 2's best left neighbour is 0 (higher score)
    boxes = np.array([[0, 10, 16, 30], [0, 12, 16, 32], [16, 11, 32, 31]], dtype=float)
    scores = np.array([0.9, 0.8, 0.85])
    np.testing.assert_array_equal(link_proposals(boxes, scores), [2, -1, -1])
    lines = build_lines(boxes, scores)
    assert len(lines) == 1 and lines[0].num_proposals == 2


def test_successor_is_in_the_nearest_column_even_if_a_farther_one_scores_higher():
    boxes = props([0, 32, 48], 10, 30)
    np.testing.assert_array_equal(link_proposals(boxes, np.array([0.8, 0.75, 0.99])), [1, 2, -1])


def test_chain_labels_name_the_first_proposal():
    succ = np.array([3, -1, 1, 4, -1, 2, -1])  # chains 0-3-4, 5-2-1, 6
    np.testing.assert_array_equal(chain_labels(succ), [0, 5, 5, 0, 0, 5, 6])


def test_side_refinement_moves_the_ends():
    boxes = props([0, 16, 32, 48, 64], 10, 30)
    sides = np.array([-0.25, 0.0, 0.0, 0.0, 0.25])
    (line,) = build_lines(boxes, np.full(5, 0.8), sides)
    assert polygon(line) == [[4, 10], [76, 10], [76, 30], [4, 30]]


def test_side_refinement_is_bounded_and_clipped_to_the_image():
    boxes = props([16, 32], 10, 30)
    (line,) = build_lines(boxes, np.full(2, 0.8), np.array([-9.0, 9.0]))
    assert polygon(line) == [[0, 10], [64, 10], [64, 30], [0, 30]]  # one anchor width outwards at most
    (line,) = build_lines(boxes, np.full(2, 0.8), np.array([-9.0, 9.0]), image_size=(60, 25))
    assert polygon(line) == [[0, 10], [60, 10], [60, 25], [0, 25]]


def test_no_proposals_no_lines():
    assert build_lines(np.zeros((0, 4)), np.zeros(0)) == []


def test_side_refinement_moves_ends_inwards_at_most_to_the_end_proposals_centres():
    boxes = props([16, 32], 10, 30)
    (line,) = build_lines(boxes, np.full(2, 0.8), np.array([9.0, -9.0]))
    assert polygon(line) == [[24, 10], [40, 10], [40, 30], [24, 30]]


def test_single_proposal_lines_are_not_side_refined():
    (line,) = build_lines(props([32], 10, 30), np.array([0.95]), np.array([0.0]))
    assert polygon(line) == [[32, 10], [48, 10], [48, 30], [32, 30]]


def test_weak_proposals_fill_a_faint_stretch_inside_a_line():
    boxes = props([0, 16, 32, 48, 64, 80, 96], 10, 30)
    scores = np.array([0.9, 0.9, 0.2, 0.2, 0.2, 0.9, 0.9])  # a faint middle
    [line] = build_lines(boxes, scores, seed_score=0.5, max_gap=20)
    assert polygon(line) == [[0, 10], [112, 10], [112, 30], [0, 30]]
    # without the weak ones (what a plain 0.5 threshold decodes) the line falls apart
    strong = scores >= 0.5
    assert len(build_lines(boxes[strong], scores[strong], max_gap=20)) == 2


def test_weak_proposals_beyond_the_seeds_or_without_seeds_make_no_line():
    line_boxes = props([0, 16, 32, 48, 64], 10, 30)
    line_scores = np.array([0.2, 0.9, 0.9, 0.9, 0.2])  # faint ends are trimmed
    faint = props([0, 16, 32], 50, 70)  # a faint line of its own
    boxes = np.concatenate([line_boxes, faint])
    scores = np.concatenate([line_scores, np.full(3, 0.2)])
    lines = build_lines(boxes, scores, seed_score=0.5)
    assert [polygon(ln) for ln in lines] == [[[16, 10], [64, 10], [64, 30], [16, 30]]]
    assert lines[0].num_proposals == 3


def test_with_fill_ends_weak_proposals_carry_a_line_on_but_make_none_alone():
    line_boxes = props([0, 16, 32, 48, 64, 80], 10, 30)
    line_scores = np.array([0.2, 0.9, 0.9, 0.2, 0.2, 0.2])  # confidence fades towards the end
    faint = props([0, 16, 32], 50, 70)  # a faint line of its own still makes nothing
    boxes = np.concatenate([line_boxes, faint])
    scores = np.concatenate([line_scores, np.full(3, 0.2)])
    lines = build_lines(boxes, scores, seed_score=0.5, fill_ends=True)
    assert [polygon(ln) for ln in lines] == [[[0, 10], [96, 10], [96, 30], [0, 30]]]
    assert lines[0].num_proposals == 6
