"""Greedy CTC decoding with per-character and per-line confidences.

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
"""

from __future__ import annotations

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
