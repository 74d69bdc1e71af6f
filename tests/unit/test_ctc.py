"""Greedy CTC decoding and its confidences on hand-made probability matrices."""

import numpy as np
import pytest

from pipeline.ctc import align_best_path, decode_best_path, greedy_decode, line_confidence

# classes: 0 blank, 1 'a', 2 'b'


def frames(*rows):
    probs = np.array(rows, dtype=float)
    assert np.allclose(probs.sum(axis=1), 1.0)
    return probs


def test_repeats_collapse_and_blanks_drop():
    probs = frames(
        [0.1, 0.7, 0.2],  # a
        [0.1, 0.8, 0.1],  # a (repeat)
        [0.9, 0.05, 0.05],  # blank
        [0.2, 0.1, 0.7],  # b
        [0.3, 0.1, 0.6],  # b (repeat)
    )
    labels, confs = greedy_decode(probs)
    assert labels == [1, 2]
    assert confs == pytest.approx([0.8, 0.7])


def test_a_char_repeated_with_a_blank_between_is_kept_twice():
    probs = frames(
        [0.2, 0.6, 0.2],  # a
        [0.5, 0.4, 0.1],  # blank
        [0.1, 0.9, 0.0],  # a
        [0.05, 0.95, 0.0],  # a (same run)
        [0.6, 0.3, 0.1],  # blank
    )
    labels, confs = greedy_decode(probs)
    assert labels == [1, 1]
    assert confs == pytest.approx([0.6, 0.95])


def test_all_blank_and_empty():
    assert greedy_decode(frames([0.9, 0.05, 0.05], [0.6, 0.2, 0.2])) == ([], [])
    assert greedy_decode(np.zeros((0, 3))) == ([], [])
    assert line_confidence([]) == 0.0


def test_line_confidence_is_the_geometric_mean_of_the_characters():
    assert line_confidence([0.9, 0.8, 0.5]) == pytest.approx((0.9 * 0.8 * 0.5) ** (1 / 3))
    assert line_confidence([0.7]) == pytest.approx(0.7)
    assert line_confidence([1.0, 1.0]) == pytest.approx(1.0)


def test_best_path_form_matches_matrix_form():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(40, 6)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)
    assert decode_best_path(best, probs.max(axis=1)) == greedy_decode(probs)


def test_alignment_gives_each_character_its_run_of_frames():
    best = np.array([0, 1, 1, 0, 0, 2, 0, 2, 2, 1])  # _ a a _ _ b _ b b a
    prob = np.array([0.9, 0.6, 0.8, 0.9, 0.9, 0.7, 0.9, 0.5, 0.6, 0.4])
    labels, confs, spans = align_best_path(best, prob)
    assert labels == [1, 2, 2, 1]
    assert confs == pytest.approx([0.8, 0.7, 0.6, 0.4])
    assert spans == [(1, 3), (5, 6), (7, 9), (9, 10)]
    assert align_best_path(np.zeros(0, int), np.zeros(0)) == ([], [], [])
