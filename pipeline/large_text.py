"""Stage: a second, half-size look for text too large for the detector's view.

CTPN reads a page through 16-px-wide columns with a receptive field of about a
hundred working pixels. Letters much taller than the lines it was trained on
(signs, posters, book covers and headlines in photos: 60-200 px at working size)
show it strokes and counters, not text, and it proposes nothing there. On a copy
of the working image at half size the same letters fall inside its range. The
lines found there that are tall (``min_height`` working pixels, i.e. above what
the full-size pass handles well) and do not overlap a line the full-size pass
found are added; everything else from the small copy is dropped, so pages of
ordinary text keep exactly what they had. Measured on our validation split of the
real sets (2026-11-30): scene photos, line recall 0.325 -> 0.412 (H-mean 0.430 ->
0.496); forms, receipts and the validation PDFs unchanged. The copy has a quarter of
the pixels: bench.speed's A4 page still spends ~0.06 s in detection.

Letters taller still (shop signs, posters: 128 working px and more, where the
detector had found a fifth of the lines on our scene photos) get a quarter-size
look after the half-size one (``LARGE_TEXT_LOOKS``). Its copy shows the detector
blotches and shadows as readily as letters, so its lines are kept only when they
read as text with confidence (``min_confidence``, applied by the pipeline after
recognition, as for the leftovers). On a page with a dark ground both looks also
look at the negative (pipeline.light_text), for light lettering as tall. Measured
2026-11-30, line H-mean through the whole pipeline: our validation split of the
scene photos 0.555 -> 0.565 (the looks at the negative) -> 0.586 (the quarter-size
look; 0.566 without its confidence floor), the MSRA-TD500 training photos 0.537 ->
0.543 -> 0.567; forms, receipts and the validation PDFs unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from pipeline.ctpn.nms import box_areas, intersection_matrix
from pipeline.preprocess import ALIGN, background_level, pad_to_multiple


class LargeText:
    """``shrink(working) -> small working image``; ``merge(found, found_small) -> lines``,
    everything in the full-size working image's pixels."""

    def __init__(
        self,
        scale: float = 0.5,
        min_height: float = 45.0,
        max_overlap: float = 0.2,
        min_confidence: float | None = None,
        min_chars: int = 1,
    ):
        self.scale, self.min_height, self.max_overlap = scale, min_height, max_overlap
        # with min_confidence, the lines this look adds are kept only when they read as text (``keep``)
        self.min_confidence, self.min_chars = min_confidence, min_chars
        # the mark on the lines it adds (None: they stay the detector's, kept as any of its lines)
        self.found_by = f"shrunk {scale:g}" if min_confidence is not None else None

    def keep(self, text: str, confidence: float) -> bool:
        """Whether a line this look added reads as text: letters, digits or CJK, confidently."""
        if self.min_confidence is None:
            return True
        return sum(c.isalnum() for c in text) >= self.min_chars and confidence >= self.min_confidence

    def shrink(self, working: np.ndarray) -> np.ndarray:
        h, w = working.shape
        small = cv2.resize(working, (max(1, round(w * self.scale)), max(1, round(h * self.scale))), interpolation=cv2.INTER_AREA)
        return pad_to_multiple(small, ALIGN, background_level(small))

    def merge(self, found: list, found_small: list) -> list:
        """``found`` and the tall lines of ``found_small`` (its pixels) that cover none of them."""
        boxes = [line.bbox for line in found]
        added = []
        for line in found_small:
            big = replace(line, polygon=(line.polygon / self.scale).astype(np.float32))
            box = big.bbox
            if box[3] - box[1] < self.min_height:
                continue
            # overlap as a share of the smaller box: a tall line over a full-size line is the same
            # text seen coarsely (or two lines taken as one), not text the full-size pass missed
            if boxes:
                smaller = np.minimum(box_areas(box), box_areas(boxes))
                if (intersection_matrix(box, boxes)[0] > self.max_overlap * smaller).any():
                    continue
            added.append(replace(big, found_by=self.found_by) if self.found_by else big)
            boxes.append(box)
        return found + added


# Half size for letters of ~45-200 working px, then a quarter for taller ones still (MSRA-TD500's
# shop signs and posters: 16% of the lines on our scene photos were 128 px or taller at working size,
# and the detector had found a fifth of them). The quarter-size copy shows the detector blotches as
# well as letters, so its lines are kept only when they read as text with confidence.
LARGE_TEXT_LOOKS = (LargeText(), LargeText(0.25, 90.0, min_confidence=0.7))
