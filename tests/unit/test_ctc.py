"""CTC decoding on hand-made probability matrices: greedy, and beam search with a language model."""

import numpy as np
import pytest

from pipeline.ctc import align_best_path, align_labels, decode_best_path, greedy_decode, line_confidence, prefix_beam_search

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


# ---------------------------------------------------------------- beam search with a language model


class TableLM:
    """A language model given as a table: log P(symbol | last symbol), a floor for the rest."""

    order = 2

    def __init__(self, table: dict[tuple[str, str], float], floor: float = -5.0):
        self.table, self.floor = table, floor

    def logp(self, history: str, symbol: str) -> float:
        return self.table.get((history[-1:], symbol), self.floor)


class FlatLM:
    order = 3

    def logp(self, history: str, symbol: str) -> float:
        return -1.0


def top(probs: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(probs, idx, axis=1)


SYMBOLS = [".", "a", "b"]  # blank, a, b


def test_beam_search_without_the_model_reads_what_greedy_reads():
    # on clear frames (greedy's labelling is then the most probable one) the search agrees with greedy
    rng = np.random.default_rng(7)
    for _ in range(20):
        path = rng.integers(0, 3, size=12)
        probs = np.full((12, 3), 0.04)
        probs[np.arange(12), path] = 0.92
        greedy, _ = greedy_decode(probs)
        assert prefix_beam_search(*top(probs), SYMBOLS, FlatLM(), alpha=0.0, beta=0.0) == greedy


def test_the_model_settles_a_frame_the_network_is_unsure_of():
    probs = frames(
        [0.05, 0.9, 0.05],  # a
        [0.9, 0.05, 0.05],  # blank
        [0.1, 0.47, 0.43],  # a or b: greedy says a
        [0.9, 0.05, 0.05],  # blank
    )
    assert greedy_decode(probs)[0] == [1, 1]
    likes_ab = TableLM({("\x02", "a"): -0.1, ("a", "b"): -0.1, ("a", "a"): -4.0})
    assert prefix_beam_search(*top(probs), SYMBOLS, likes_ab, alpha=0.5, beta=0.0) == [1, 2]
    # a confident frame is not overturned by a small weight
    sure = frames([0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.02, 0.96, 0.02], [0.9, 0.05, 0.05])
    assert prefix_beam_search(*top(sure), SYMBOLS, likes_ab, alpha=0.5, beta=0.0) == [1, 1]


class LexiconLM(FlatLM):
    """Every symbol equally likely; the lexicon knows one word."""

    def __init__(self, word: str):
        self.word = word

    def is_word(self, word: str) -> bool:
        return word == self.word


def test_a_lexicon_word_wins_where_its_letters_were_in_doubt():
    symbols = [".", "b", "r", "e", "t", " "]  # blank, b, r, e, t, space
    b, r, e, t, space = 1, 2, 3, 4, 5

    def frame(best: int, runner_up: int | None = None, p: float = 0.9) -> list[float]:
        row = [0.02] * 6
        row[best] = p
        if runner_up is not None:
            row[runner_up] = 0.95 - p
        total = sum(row)
        return [v / total for v in row]

    # "retter", its first letter 55/40 against "better", then " retter" again
    word = [frame(r, b, 0.55), frame(0), frame(e), frame(0), frame(t), frame(0), frame(t), frame(0), frame(e), frame(0), frame(r)]
    probs = np.array(word + [frame(0), frame(space), frame(0)] + word)
    idx, prob = top(probs, k=3)
    assert prefix_beam_search(idx, prob, symbols, LexiconLM("better"), alpha=0.0, beta=0.0) == [r, e, t, t, e, r, space] + [
        r,
        e,
        t,
        t,
        e,
        r,
    ]
    # a bonus larger than the doubt reads both as the word: one completed by the space, one by the line's end
    read = prefix_beam_search(idx, prob, symbols, LexiconLM("better"), alpha=0.0, beta=0.0, word_bonus=1.0)
    assert read == [b, e, t, t, e, r, space, b, e, t, t, e, r]


def test_a_doubled_letter_needs_its_blank_in_the_search_too():
    probs = frames([0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1])  # one long a, no blank
    likes_aa = TableLM({("\x02", "a"): -0.1, ("a", "a"): -0.01})
    assert prefix_beam_search(*top(probs), SYMBOLS, likes_aa, alpha=1.0, beta=0.0) == [1]


def test_forced_alignment_of_the_greedy_labels_matches_the_greedy_alignment():
    best = np.array([0, 1, 1, 0, 0, 2, 0, 2, 2, 1])
    prob = np.array([0.9, 0.6, 0.8, 0.9, 0.9, 0.7, 0.9, 0.5, 0.6, 0.4])
    labels, confs, spans = align_best_path(best, prob)
    top_idx = np.stack([best, (best + 1) % 3], axis=1)
    top_prob = np.stack([prob, (1 - prob) / 2], axis=1)
    assert align_labels(labels, top_idx, top_prob) == (pytest.approx(confs), spans)


def test_forced_alignment_places_a_label_greedy_did_not_choose():
    probs = frames([0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.1, 0.47, 0.43], [0.9, 0.05, 0.05])
    confs, spans = align_labels([1, 2], *top(probs))
    assert spans == [(0, 1), (2, 3)]
    assert confs == pytest.approx([0.9, 0.43])
    assert align_labels([], *top(probs)) == ([], [])


def test_a_long_unsure_blank_stays_blank():
    # a form's gap between label and value: blank only ~45% sure in every frame, a letter at ~14%;
    # summed over where the letter could sit, "one letter somewhere" would beat "nothing"
    probs = np.tile([0.45, 0.14, 0.41], (60, 1))
    assert greedy_decode(probs)[0] == []
    never_empty = TableLM({("\x02", "a"): -0.5, ("\x02", "\x03"): -30.0})  # a corpus has no empty lines
    assert prefix_beam_search(*top(probs), SYMBOLS, never_empty, alpha=0.15, beta=0.5) == []
