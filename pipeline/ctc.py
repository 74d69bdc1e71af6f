"""CTC decoding: greedy, and beam search with a language model; per-character and per-line confidences.

Definitions (tested exactly):
  * path: the most probable class of each frame;
  * text: the path with runs of one class collapsed to one symbol, then blanks
    (class 0) dropped -- so "a a" needs a blank between the two a's;
  * a character's confidence: the highest probability its class had over the
    run of frames that emitted it;
  * the line's confidence: the geometric mean of its characters' confidences,
    exp(mean(log c)); 0.0 for a line with no characters;
  * a character's frames: the run of frames [start, end) that emitted it (the
    alignment pipeline/words.py places words with).

Where the network is unsure, ``prefix_beam_search`` weighs its top classes against a
character language model (pipeline/charlm.py) and ``align_labels`` gives the chosen
characters their frames and confidences by the same definitions.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from pipeline.charset import BLANK


def align_best_path(best: np.ndarray, best_prob: np.ndarray) -> tuple[list[int], list[float], list[tuple[int, int]]]:
    """Per-frame best class (T,) and its probability (T,) -> class indices, their confidences
    and the frames [start, end) each was emitted over."""
    best = np.asarray(best).reshape(-1)
    best_prob = np.asarray(best_prob, dtype=np.float64).reshape(-1)
    if len(best) == 0:
        return [], [], []
    run_start = np.ones(len(best), dtype=bool)
    run_start[1:] = best[1:] != best[:-1]
    starts = np.flatnonzero(run_start)
    ends = np.append(starts[1:], len(best))
    labels = best[starts]
    run_max = np.maximum.reduceat(best_prob, starts)
    emitted = labels != BLANK
    frames = [(int(a), int(b)) for a, b in zip(starts[emitted], ends[emitted], strict=True)]
    return labels[emitted].astype(int).tolist(), run_max[emitted].tolist(), frames


def decode_best_path(best: np.ndarray, best_prob: np.ndarray) -> tuple[list[int], list[float]]:
    """Per-frame best class (T,) and its probability (T,) -> class indices and their confidences."""
    labels, confidences, _ = align_best_path(best, best_prob)
    return labels, confidences


def greedy_decode(probs: np.ndarray) -> tuple[list[int], list[float]]:
    """Probabilities (T, C) over classes (index 0 = blank) -> class indices and their confidences."""
    probs = np.asarray(probs, dtype=np.float64)
    best = probs.argmax(axis=1)
    return decode_best_path(best, probs[np.arange(len(probs)), best])


def line_confidence(char_confidences: list[float]) -> float:
    if not char_confidences:
        return 0.0
    c = np.clip(np.asarray(char_confidences, dtype=np.float64), 1e-12, 1.0)
    return float(np.exp(np.log(c).mean()))


# ---------------------------------------------------------------- beam search with a language model

NEG_INF = -math.inf
MISSING_PROB = 1e-6  # a class outside a frame's top K: the readout says only that it is below them


def _grow(beams: dict, prefix: tuple[int, ...], pb: float, pnb: float, *rest) -> None:
    """Offer ``prefix`` a path; it keeps the more probable. ``rest`` (the language model's history and
    score, the word being spelt and the word bonus so far) is the prefix's own, whatever the path."""
    state = beams.get(prefix)
    if state is None:
        beams[prefix] = [pb, pnb, *rest]
    else:
        state[0], state[1] = max(state[0], pb), max(state[1], pnb)


def prefix_beam_search(
    top_idx: np.ndarray,
    top_prob: np.ndarray,
    symbols: list[str],
    lm,
    alpha: float,
    beta: float,
    beam_width: int = 8,
    min_prob: float = 1e-3,
    word_bonus: float = 0.0,
) -> list[int]:
    """CTC prefix beam search over each frame's top K classes, fused with a language model.

    A prefix is scored by its single best alignment, not the sum over all of them: across a long
    stretch of blank frames that are only ~50% sure (the gap between a form's label and its value),
    the sum makes "one faint letter somewhere in the gap" more probable than nothing, and the
    search filled such gaps with "lEll"; the best alignment reads them as blank, as greedy does, and
    chose as well on our validation lines (mean CER ratio to greedy 0.831 against the sum's 0.829).

    ``top_idx`` / ``top_prob`` (T, K): each frame's K most probable classes (index 0 = blank)
    and their probabilities, best first. ``symbols[c]`` is class c's symbol for ``lm``, whose
    ``logp(history, symbol)`` scores it after the symbols before it (``lm.order - 1`` of them
    matter). A prefix scores log P_ctc + alpha * log P_lm + beta * its length + ``word_bonus`` for
    each word it has completed that ``lm.is_word`` knows (a word completes at the symbol after its
    last letter, or at the line's end); classes below ``min_prob`` in a frame are not tried there.
    Returns the best prefix's classes.
    """
    from pipeline.charlm import END, LETTERS, MIN_WORD, START  # ctc itself knows no language model

    keep = lm.order - 1
    log_prob = np.log(np.clip(np.asarray(top_prob, dtype=np.float64), 1e-30, 1.0))
    # prefix -> [log P of its best path ending in blank, ... ending in its last class, lm history, lm log P,
    #            the letters of the word it is spelling, its word bonus so far]
    beams: dict[tuple[int, ...], list] = {(): [0.0, NEG_INF, START * keep, 0.0, "", 0.0]}

    def total(prefix, state) -> float:
        return max(state[0], state[1]) + alpha * state[3] + beta * len(prefix) + state[5]

    def word_done(word: str) -> float:
        return word_bonus if word_bonus and len(word) >= MIN_WORD and lm.is_word(word) else 0.0

    least = math.log(min_prob)
    for t in range(log_prob.shape[0]):
        classes = [(int(c), float(lp)) for c, lp in zip(top_idx[t], log_prob[t], strict=True) if lp >= least]
        blank = next((lp for c, lp in classes if c == BLANK), math.log(MISSING_PROB))
        grown: dict[tuple[int, ...], list] = {}
        add = functools.partial(_grow, grown)
        for prefix, (pb, pnb, history, lm_score, word, bonus) in beams.items():
            both = max(pb, pnb)
            add(prefix, both + blank, NEG_INF, history, lm_score, word, bonus)
            last = prefix[-1] if prefix else None
            for c, lp in classes:
                if c == BLANK:
                    continue
                if c == last:
                    add(prefix, NEG_INF, pnb + lp, history, lm_score, word, bonus)  # the same character, held
                    reach = pb + lp  # a second one needs a blank between
                else:
                    reach = both + lp
                if reach == NEG_INF:
                    continue
                symbol = symbols[c]
                spelt, got = (word + symbol, bonus) if symbol in LETTERS else ("", bonus + word_done(word))
                add(prefix + (c,), NEG_INF, reach, (history + symbol)[-keep:], lm_score + lm.logp(history, symbol), spelt, got)
        ranked = sorted(grown.items(), key=lambda item: total(*item), reverse=True)
        beams = dict(ranked[:beam_width])

    def at_end(item) -> float:
        # the line ends here: a prefix that stops mid-word pays for it, and its last word completes. Not the
        # empty one: the corpus has no empty lines, and "no text" must not pay for that (a blank crop then
        # read as "EE")
        prefix, state = item
        return total(prefix, state) + (alpha * lm.logp(state[2], END) + word_done(state[4]) if prefix else 0.0)

    return list(max(beams.items(), key=at_end)[0])


def align_labels(labels: list[int], top_idx: np.ndarray, top_prob: np.ndarray) -> tuple[list[float], list[tuple[int, int]]]:
    """The most probable CTC alignment of ``labels`` to the frames (Viterbi over the top-K
    probabilities): each label's confidence (its best probability over its frames) and its frames
    [start, end), as align_best_path gives them for the greedy labels."""
    if not labels:
        return [], []
    top_idx = np.asarray(top_idx)
    top_prob = np.asarray(top_prob, dtype=np.float64)
    n_frames = top_idx.shape[0]
    ext = np.full(2 * len(labels) + 1, BLANK, dtype=np.int64)  # blank, l1, blank, l2, ..., blank
    ext[1::2] = labels
    # (T, S): each state's class probability in each frame, MISSING_PROB where it is not in the top K
    match = top_idx[:, :, None] == ext[None, None, :]
    prob = np.where(match.any(axis=1), (top_prob[:, :, None] * match).sum(axis=1), MISSING_PROB)
    emit = np.log(prob)
    n_states = len(ext)
    skip = np.zeros(n_states, dtype=bool)  # a label may follow the previous one without a blank unless equal
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    score = np.full(n_states, NEG_INF)
    score[0], score[1] = emit[0, 0], emit[0, 1]
    back = np.zeros((n_frames, n_states), dtype=np.int8)
    for t in range(1, n_frames):
        stay, step = score, np.r_[NEG_INF, score[:-1]]
        jump = np.where(skip, np.r_[NEG_INF, NEG_INF, score[:-2]], NEG_INF)
        moves = np.stack([stay, step, jump])
        back[t] = moves.argmax(axis=0)
        score = moves.max(axis=0) + emit[t]
    state = n_states - 1 if n_states == 1 or score[-1] >= score[-2] else n_states - 2
    path = np.empty(n_frames, dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    confidences, spans = [], []
    for j in range(len(labels)):
        frames = np.flatnonzero(path == 2 * j + 1)
        if len(frames) == 0:  # fewer frames than labels need: give the label its neighbour's place
            at = min(int(np.searchsorted(path, 2 * j + 1)), n_frames - 1)
            frames = np.array([at])
        spans.append((int(frames[0]), int(frames[-1]) + 1))
        confidences.append(float(prob[frames, 2 * j + 1].max()))
    return confidences, spans
