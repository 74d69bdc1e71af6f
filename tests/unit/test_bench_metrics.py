"""The benchmark's metrics on hand-made boxes and strings, with exact expectations."""

from __future__ import annotations

import random

import pytest

from bench.metrics import (
    CerCount,
    DetectionCount,
    TextLine,
    box_to_polygon,
    edit_distance,
    iou,
    match_lines,
    normalize,
    normalize_word,
    overlaps,
    page_cer,
    page_detection,
    reading_order,
    text_cer,
    word_correct,
)


def line(x0, y0, x1, y1, text="", difficult=False):
    return TextLine(box_to_polygon(x0, y0, x1, y1), text, difficult)


def slow_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


# ---------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "中文", 2),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("中文识别", "中人识别", 1),
        ("abc", "abc", 0),
        ("ab", "ba", 2),
    ],
)
def test_edit_distance_known_values(a, b, d):
    assert edit_distance(a, b) == d
    assert edit_distance(b, a) == d


def test_edit_distance_agrees_with_the_textbook_recurrence():
    rng = random.Random(7)
    for _ in range(500):
        a = "".join(rng.choice("ab中c") for _ in range(rng.randint(0, 15)))
        b = "".join(rng.choice("ab中c") for _ in range(rng.randint(0, 15)))
        assert edit_distance(a, b) == slow_distance(a, b), (a, b)


def test_normalize_applies_nfkc_and_drops_all_whitespace():
    # full-width letters/digits and the "fi" ligature fold; spaces, tabs, ideographic space go
    assert normalize("Ａｂｃ １２\t3\u3000ﬁle\n") == "Abc123file"
    assert normalize("中文，标点") == "中文,标点"  # full-width comma folds to ASCII under NFKC


def test_word_normalisation_is_case_insensitive_alphanumeric():
    assert normalize_word("Don't!") == "dont"
    assert word_correct("PRIVATE", "private.")
    assert not word_correct("PRIVATE", "PRIVATF")


def test_text_cer_uses_the_same_normalisation():
    count = text_cer("The  cat sat", "Thecat sad")
    assert (count.distance, count.true_chars) == (1, 9)


# ---------------------------------------------------------------- geometry


def test_iou_of_axis_aligned_and_rotated_boxes():
    assert iou(box_to_polygon(0, 0, 10, 10), box_to_polygon(5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou(box_to_polygon(0, 0, 10, 10), box_to_polygon(20, 0, 30, 10)) == 0.0
    diamond = [(5, 0), (10, 5), (5, 10), (0, 5)]  # the square turned 45 degrees: area 50, inside the square
    assert iou(box_to_polygon(0, 0, 10, 10), diamond) == pytest.approx(0.5)


def test_overlap_is_measured_against_the_smaller_box():
    big = box_to_polygon(0, 0, 100, 10)
    assert overlaps(big, box_to_polygon(90, 0, 110, 10))  # half of the small box: 100 of 200
    assert not overlaps(big, box_to_polygon(91, 0, 111, 10))  # 90 of 200


def test_reading_order_rows_then_left_to_right():
    polys = [box_to_polygon(*b) for b in [(60, 1, 100, 11), (0, 0, 50, 10), (0, 20, 50, 30)]]
    # the right piece sits a pixel lower than the left: still one row, read left first
    assert reading_order(polys) == [1, 0, 2]


# ---------------------------------------------------------------- CER


def test_cer_perfect_page():
    truth = [line(0, 0, 100, 10, "hello world"), line(0, 20, 100, 30, "第二行")]
    pred = [line(1, 1, 99, 11, "hello  world"), line(0, 21, 100, 31, "第二行")]
    count = page_cer(truth, pred)
    assert (count.distance, count.true_chars) == (0, 13)
    assert count.cer == 0.0


def test_cer_a_true_line_split_into_two_predictions_is_one_group():
    truth = [line(0, 0, 200, 10, "abcdef ghij")]
    pred = [line(110, 0, 200, 10, "ghij"), line(0, 0, 100, 10, "abcdef")]  # listed right piece first
    assert page_cer(truth, pred).distance == 0


def test_cer_two_true_lines_merged_into_one_prediction():
    truth = [line(0, 0, 100, 10, "top"), line(0, 12, 100, 22, "bottom")]
    pred = [line(0, 0, 100, 22, "topbotom")]
    count = page_cer(truth, pred)
    assert (count.distance, count.true_chars) == (1, 9)


def test_cer_unmatched_lines_count_in_full():
    truth = [line(0, 0, 100, 10, "abc"), line(0, 50, 100, 60, "missed")]
    pred = [line(0, 0, 100, 10, "abc"), line(300, 300, 400, 310, "noise!!")]
    count = page_cer(truth, pred)
    assert count.true_chars == 9
    assert count.distance == 6 + 7  # the missed line's length plus the stray prediction's length
    assert count.cer == pytest.approx(13 / 9)


def test_cer_small_overlap_does_not_group():
    truth = [line(0, 0, 100, 10, "abc")]
    pred = [line(0, 6, 100, 16, "abc")]  # 40% of the smaller box
    assert page_cer(truth, pred).distance == 6


def test_cer_count_accumulates_and_handles_empty_truth():
    total = CerCount()
    total.add(CerCount(2, 10))
    total.add(CerCount(1, 20))
    assert total.cer == pytest.approx(0.1)
    assert CerCount(0, 0).cer == 0.0


# ---------------------------------------------------------------- detection


def test_matching_is_one_to_one_at_iou_half():
    truth = [line(0, 0, 100, 10), line(0, 20, 100, 30)]
    pred = [line(0, 0, 100, 10), line(2, 0, 100, 10), line(0, 20, 40, 30)]
    # both of the first two predictions fit truth 0, only the better one gets it; the third has IoU 0.4
    assert match_lines(truth, pred) == [(0, 0)]
    count = page_detection(truth, pred)
    assert (count.matched, count.predicted, count.true) == (1, 3, 2)
    assert count.precision == pytest.approx(1 / 3)
    assert count.recall == pytest.approx(0.5)
    assert count.hmean == pytest.approx(0.4)


def test_difficult_truth_is_dont_care():
    truth = [line(0, 0, 100, 10), line(0, 50, 100, 60, difficult=True), line(0, 80, 100, 90, difficult=True)]
    pred = [line(0, 0, 100, 10), line(0, 50, 100, 60), line(0, 200, 100, 210)]
    count = page_detection(truth, pred)
    # the prediction on the difficult line counts neither way; the missed difficult line is not a miss
    assert (count.matched, count.predicted, count.true) == (1, 2, 1)
    assert count.precision == 0.5
    assert count.recall == 1.0


def test_detection_of_an_empty_page():
    assert DetectionCount(0, 0, 0).hmean == 1.0
    assert DetectionCount(0, 3, 0).hmean == 0.0
    assert DetectionCount(0, 0, 3).hmean == 0.0


def test_rotated_truth_matches_rotated_prediction():
    truth = [TextLine([(0, 0), (100, 20), (96, 40), (-4, 20)], "")]
    pred = [TextLine([(2, 1), (101, 21), (97, 40), (-2, 20)], "")]
    assert page_detection(truth, pred).matched == 1
    assert page_detection(truth, [line(-4, 0, 101, 40)]).matched == 0  # its upright bounding box is too big
