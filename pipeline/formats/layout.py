"""Where a line's text runs inside its box, shared by the hOCR word boxes and the PDF text layer.

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


def token_spans(text: str) -> list[tuple[int, int, float, float]]:
    """Whitespace-separated tokens as ``(first_char, end_char, begin, end)``.

    ``begin``/``end`` are fractions of the line's length, apportioned by
    character advance so that a Chinese character takes twice a Latin letter's room.
    """
    total = sum(advance(c) for c in text)
    if not total:
        return []
    spans, offset, start = [], 0, None
    for i, char in enumerate(text + " "):
        if char.isspace():
            if start is not None:
                width = sum(advance(c) for c in text[start:i])
                spans.append((start, i, offset / total, (offset + width) / total))
                offset += width
                start = None
            if i < len(text):
                offset += advance(char)
        elif start is None:
            start = i
    return spans
