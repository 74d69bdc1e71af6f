"""Stage: photographs and what is kept of their lines.

A photo is not a page of print: most of it is mid-tones (walls, skies, skin, shadows), where a page,
scanned, faxed or rendered, is paper and ink. ``photo_like`` tells them apart. The detector starts
lines on photos at a higher text probability (pipeline.detector, ``photo_score_threshold``), and
``PhotoLines.keep`` keeps a photo's line only when it reads as text with some confidence: on a
page every detected line is kept (a faint or odd line of print is still print), while in a photo
the detector's junk (leaves, railings, brickwork, window bars) reads as a character or two at low
confidence. Measured 2026-11-30, line H-mean through the whole pipeline: our validation split of
the scene photos 0.594 -> 0.634 (precision 0.707 -> 0.907, recall 0.512 -> 0.487; at confidence 0.3
0.611), the MSRA-TD500 training photos 0.568 -> 0.597 (P 0.631 -> 0.840, R 0.517 -> 0.463); forms,
receipts and the validation PDFs are not photos and keep every line.
"""

from __future__ import annotations

import cv2
import numpy as np

# A photograph is mostly mid-tones (walls, skies, skin, shadows); a page of print, scanned, faxed or
# rendered, is paper and ink. Share of the working image, at a quarter of its size, between these
# two grey levels above which a page is taken for a photo: on our validation split of the real
# sets (2026-11-30) forms and receipts reached 0.18 at most, the validation PDFs 0.16 (200 and
# 100 dpi), while nine in ten scene photos had over 0.54; any cut from 0.25 to 0.4 split them alike.
PHOTO_MID_TONES = (60, 190)
PHOTO_MIN_SHARE = 0.3


def photo_like(working: np.ndarray) -> bool:
    """Whether a working image is a photograph rather than a page of print (``PHOTO_MID_TONES``)."""
    small = cv2.resize(working, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    low, high = PHOTO_MID_TONES
    return float(np.mean((small > low) & (small < high))) >= PHOTO_MIN_SHARE


class PhotoLines:
    """``applies(working) -> bool`` (the page is a photo) and ``keep(text, confidence) -> bool``."""

    def __init__(self, min_confidence: float = 0.5, min_chars: int = 2):
        self.min_confidence, self.min_chars = min_confidence, min_chars

    @staticmethod
    def applies(working: np.ndarray) -> bool:
        return photo_like(working)

    def keep(self, text: str, confidence: float) -> bool:
        """Whether a photo's line reads as text: ``min_chars`` letters, digits or CJK, confidently."""
        return sum(c.isalnum() for c in text) >= self.min_chars and confidence >= self.min_confidence
