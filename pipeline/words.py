"""Words of a recognised line and where they lie in its crop, from the recognizer's CTC alignment.

The greedy CTC path says over which frames each character was emitted
(pipeline/ctc.py). CTC emits a character over one or two frames inside its
glyph, not over its width -- and our recognizer emits early, in the glyph's
left part (measured on rendered lines: 0.6 frames before a Latin glyph's
centre, 2 before a CJK one's, a frame being 4 columns of the 32-px-high line).
So two neighbouring characters are cut apart at the column with the least ink
between their emissions, the tie between blank columns going to the one
nearest ``CUT_AT`` of the way from the first emission to the second, where
the glyphs' boundary falls on average. A word's box is then the ink between
its cuts (and inside the line's own top and bottom edges).

Word boundaries: whitespace separates words of Latin script, and each CJK
character (or full-width sign) is a word of its own. Chinese has no spaces to
say where words end, and hOCR consumers -- search-highlighting in viewers,
OCRmyPDF/hocr-tools text layers, Tesseract's own chi_sim output -- expect
ocrx_word elements small enough to select any substring; one character each
gives that without guessing at a word segmentation.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.ctc import line_confidence

INK_CONTRAST = 48  # grey levels between paper and ink below which a stretch is taken as blank
CUT_AT = 0.75  # where between two emissions their glyphs part, as a fraction of the frames between them


@dataclass(frozen=True)
class PlacedWord:
    first: int  # character span [first, end) of the line's text
    end: int
    confidence: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in crop pixels


def is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def split_words(text: str) -> list[tuple[int, int]]:
    """Character spans [first, end) of the words of ``text``."""
    spans: list[tuple[int, int]] = []
    start = None
    for i, char in enumerate(text):
        if char.isspace() or is_wide(char):
            if start is not None:
                spans.append((start, i))
                start = None
            if is_wide(char):
                spans.append((i, i + 1))
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def ink_mask(crop: np.ndarray, band: tuple[float, float]) -> np.ndarray | None:
    """Boolean (h, w) of the crop's ink inside the band's rows (False outside them); None when
    the band is too even to tell ink from paper."""
    top, bottom = max(0, int(np.floor(band[0]))), min(crop.shape[0], int(np.ceil(band[1])))
    rows = crop[top:bottom]
    if rows.size == 0 or int(rows.max()) - int(rows.min()) < INK_CONTRAST:
        return None
    _, high = cv2.threshold(rows, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    high = high.astype(bool)
    # Text covers less of a line than its paper does, whichever of the two is the darker.
    ink_rows = ~high if high.mean() > 0.5 else high
    mask = np.zeros(crop.shape, dtype=bool)
    mask[top:bottom] = ink_rows
    return mask


def _snap(mask: np.ndarray | None, x0: float, x1: float, band: tuple[float, float]) -> tuple[float, float, float, float]:
    """The ink's box inside columns [x0, x1) and the band; the stretch itself when it holds no ink."""
    fallback = (x0, band[0], x1, band[1])
    if mask is None:
        return fallback
    a, b = max(0, int(np.floor(x0))), min(mask.shape[1], int(np.ceil(x1)))
    if b <= a:
        return fallback
    part = mask[:, a:b]
    cols = np.flatnonzero(part.any(axis=0))
    if len(cols) == 0:
        return fallback
    rows = np.flatnonzero(part[:, cols[0] : cols[-1] + 1].any(axis=1))
    return (float(a + cols[0]), float(rows[0]), float(a + cols[-1] + 1), float(rows[-1] + 1))


def _cut(ink: np.ndarray | None, left: float, right: float) -> float:
    """The column with the least ink in [left, right), nearest the expected cut among equals."""
    expected = left + CUT_AT * (right - left)
    a, b = max(0, int(np.floor(left))), int(np.ceil(right))
    if ink is None or b - a < 2 or a >= len(ink):
        return expected
    columns = np.arange(a, min(b, len(ink)))
    counts = ink[columns]
    candidates = columns[counts == counts.min()]
    return float(candidates[np.argmin(np.abs(candidates + 0.5 - expected))])


def place_words(
    text: str,
    char_confidences: list[float],
    char_frames: list[tuple[int, int]],
    px_per_frame: float,
    crop: np.ndarray,
    band: tuple[float, float],
) -> list[PlacedWord]:
    """The words of a recognised line with their boxes in its crop; [] without an alignment
    (a recogniser that gives no frames, or frames that do not match the text)."""
    if not text or len(char_frames) != len(text) or px_per_frame <= 0:
        return []
    confidences = list(char_confidences) if len(char_confidences) == len(text) else None
    mask = ink_mask(crop, band)
    ink = mask.sum(axis=0) if mask is not None else None
    words = split_words(text)
    # Cut between one word's last character and the next word's first, skipping the space
    # between them: its emission may fall anywhere in the gap, even inside the last glyph.
    inner = [
        _cut(ink, char_frames[end - 1][1] * px_per_frame, char_frames[nxt][0] * px_per_frame)
        for (_, end), (nxt, _) in zip(words, words[1:], strict=False)
    ]
    cuts = [0.0, *inner, float(crop.shape[1])]
    out = []
    for k, (first, end) in enumerate(words):
        box = _snap(mask, cuts[k], cuts[k + 1], band)
        confidence = line_confidence(confidences[first:end]) if confidences else 0.0
        out.append(PlacedWord(first, end, round(confidence, 4), box))
    return out


def split_at_gaps(
    words: list[PlacedWord],
    line_height: float,
    max_gap: float,
    text: str = "",
    label_gap: float | None = None,
) -> list[list[PlacedWord]]:
    """Runs of words whose blank between one word's box and the next stays within ``max_gap``
    line heights: a form's label and the value typed far to its right, or two table cells the
    detector chained into one line, become separate lines. With the line's ``text`` and a
    ``label_gap``, a word ending in a colon is also parted from a next word more than
    ``label_gap`` line heights away: a label and its field."""
    if not words:
        return []
    runs = [[words[0]]]
    for prev, word in zip(words, words[1:], strict=False):
        gap = (word.box[0] - prev.box[2]) / line_height
        labelled = label_gap is not None and text[prev.first : prev.end].endswith((":", "："))
        if gap > max_gap or (labelled and gap > label_gap):
            runs.append([])
        runs[-1].append(word)
    return runs
