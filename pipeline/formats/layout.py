"""Where a line's text runs inside its box: the PDF text layer sets each line along it, and hOCR
reads the page's quarter turn from it.

Line boxes are in original page pixels (y down). On a page whose content was
rotated clockwise by ``page.angle`` (the rotation the pipeline undid), the
text inside an axis-aligned box runs right, down, left or up.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Advance widths in 1/1000 em: CJK and full-width forms are square, the rest about half as wide.
WIDE_ADVANCE = 1000
NARROW_ADVANCE = 500


@dataclass(frozen=True)
class TextRun:
    """A line's text frame in page pixels (y down)."""

    start: tuple[float, float]  # bottom-left corner of the text as a reader sees it
    direction: tuple[int, int]  # unit reading direction
    length: float  # extent along ``direction``
    height: float  # extent across it

    def span(self, begin: float, end: float, bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Page-pixel box of the part of the line between fractions ``begin`` and ``end`` of its length."""
        (sx, sy), (dx, dy) = self.start, self.direction
        x0, y0, x1, y1 = bbox
        if dx:
            a, b = sx + dx * begin * self.length, sx + dx * end * self.length
            return min(a, b), y0, max(a, b), y1
        a, b = sy + dy * begin * self.length, sy + dy * end * self.length
        return x0, min(a, b), x1, max(a, b)


def quarter_turn(angle: float) -> int:
    """The page angle snapped to 0, 90, 180 or 270."""
    return int(round(angle / 90.0)) % 4 * 90


def text_run(bbox: tuple[float, float, float, float], angle: float) -> TextRun:
    x0, y0, x1, y1 = bbox
    width, height = max(x1 - x0, 0.0), max(y1 - y0, 0.0)
    turn = quarter_turn(angle)
    if turn == 90:  # reads downwards, letter tops face right
        return TextRun((x0, y0), (0, 1), height, width)
    if turn == 180:  # upside down, reads leftwards
        return TextRun((x1, y0), (-1, 0), width, height)
    if turn == 270:  # reads upwards, letter tops face left
        return TextRun((x1, y1), (0, -1), height, width)
    return TextRun((x0, y1), (1, 0), width, height)


def advance(char: str) -> int:
    return WIDE_ADVANCE if unicodedata.east_asian_width(char) in ("W", "F") else NARROW_ADVANCE
