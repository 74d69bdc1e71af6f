"""Stage: a look at the page's negative, for light text on a dark ground.

Our detector learnt text mostly as dark ink on light paper. Photos are full of the
opposite: white lettering on a red button, a blue banner, a dark poster ("MODE",
"gravity test", "At Microsoft, security is ..."), and on MSRA-TD500 most of the
lines it never proposed were such. On the negative of the working image those are
dark on light, and the detector finds them. ``merge`` adds the lines found on the
negative that cover no line the positive pass found (overlap as a share of the
smaller box, as pipeline.large_text does), marked ``found_by = FOUND_BY``; the
pipeline keeps them only when they read as text with confidence (``keep``, the
rule pipeline.leftovers applies to its candidates), because on a page of dark text
the negative's gaps between letters and lines can look like strokes.

Pages with no dark ground are not looked at twice: ``needed`` wants a share of the
page (``min_dark``) darker than ``dark_level`` once blurred to the scale of a line,
which paper with print on it never is. (A page that is dark all over was already
turned into its negative by the preprocessor's contrast normalisation; this is for
light lettering on part of a page.)

Measured 2026-11-30, line H-mean through the whole pipeline: our validation split of
the scene photos 0.522 -> 0.529, the MSRA-TD500 training photos (seen by the detector
in training, so only the change says something) 0.540 -> 0.545; our forms, receipts
and the validation PDFs unchanged (the gate passes over them).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from pipeline.ctpn.nms import box_areas, intersection_matrix

FOUND_BY = "negative"  # DetectedLine.found_by of this stage's lines


class LightText:
    """``needed(working) -> bool``, ``negative(working) -> image``, ``merge(found, found_negative) -> lines``
    and ``keep(text, confidence) -> bool``, all in the working image's pixels."""

    def __init__(
        self,
        max_overlap: float = 0.2,
        min_dark: float = 0.02,
        dark_level: int = 110,
        blur: int = 31,
        min_confidence: float = 0.8,
        min_chars: int = 2,
        large: bool = True,
    ):
        self.max_overlap, self.min_dark, self.dark_level, self.blur = max_overlap, min_dark, dark_level, blur
        self.min_confidence, self.min_chars = min_confidence, min_chars
        # whether the pipeline's large-text looks (pipeline.large_text) also look at the negative
        self.large = large

    def needed(self, working: np.ndarray) -> bool:
        """Whether some of the page is a dark ground (not dark ink: blurred over ``blur`` pixels, print
        on paper stays light grey)."""
        small = cv2.resize(working, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
        ground = cv2.blur(small, (max(3, self.blur // 4),) * 2)
        return float(np.mean(ground < self.dark_level)) >= self.min_dark

    @staticmethod
    def negative(working: np.ndarray) -> np.ndarray:
        return 255 - working

    def merge(self, found: list, found_negative: list) -> list:
        """``found`` and the lines of ``found_negative`` that cover none of them."""
        boxes = [line.bbox for line in found]
        added = []
        for line in found_negative:
            box = line.bbox
            if boxes:
                smaller = np.minimum(box_areas(box), box_areas(boxes))
                if (intersection_matrix(box, boxes)[0] > self.max_overlap * smaller).any():
                    continue
            added.append(replace(line, found_by=FOUND_BY))
            boxes.append(box)
        return found + added

    def keep(self, text: str, confidence: float) -> bool:
        """Whether a line found on the negative reads as text: letters, digits or CJK, confidently."""
        chars = [c for c in text if c.isalnum()]
        return len(chars) >= self.min_chars and confidence >= self.min_confidence
