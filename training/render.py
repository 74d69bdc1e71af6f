"""Render a text line with a font into a grayscale crop, as the detector would cut it from a page."""

from __future__ import annotations

import functools
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training.fonts import Font


@functools.lru_cache(maxsize=512)
def pil_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def render_line(text: str, font: Font, size: int, rng: random.Random, underline: bool = False) -> np.ndarray:
    """Text on a plain background, cropped around the ink with random margins (crop jitter).

    ``underline``: a rule under the baseline, through the descenders, as forms and typewritten
    labels underline them (not at the crop's edge like ``augment.table_rules``: the box a
    detector draws around an underlined label takes the rule in)."""
    face = pil_font(font.path, font.index, size)
    x0, y0, x1, y1 = face.getbbox(text)
    spacing = rng.choice([0, 0, 0, 1, 2]) if len(text) < 30 else 0
    width = int(x1 + spacing * len(text) + size)
    height = int(y1 + size)
    bg = rng.randint(170, 255)
    fg = rng.randint(0, max(0, bg - 90))
    img = Image.new("L", (width, height), bg)
    draw = ImageDraw.Draw(img)
    if spacing:
        x = size // 2
        for ch in text:
            draw.text((x, size // 2), ch, font=face, fill=fg)
            x += face.getlength(ch) + spacing
    else:
        draw.text((size // 2, size // 2), text, font=face, fill=fg)
    if underline:
        ascent, _ = face.getmetrics()
        y = size // 2 + ascent + round(size * rng.uniform(0.04, 0.2))  # drawn from the ascender line
        thick = max(1, round(size * rng.uniform(0.03, 0.09)))
        # a typed rule often runs on past the words (a blank to fill in) or stops short of them
        start = size // 2 + round(size * rng.uniform(-0.4, 0.2))
        end = size // 2 + x1 + spacing * len(text) + round(size * rng.uniform(-0.2, 0.45))
        draw.rectangle((max(0, start), y, min(width - 1, end), min(height - 1, y + thick - 1)), fill=fg)
    arr = np.asarray(img)
    ink = np.argwhere(np.abs(arr.astype(np.int16) - bg) > 30)
    if ink.size == 0:
        return arr
    (top, left), (bottom, right) = ink.min(0), ink.max(0) + 1
    h = bottom - top
    # Detected boxes are rarely tight: leave 0-30% of the line height above and below, and
    # now and then cut into the ink, as a box that misses the dot of an i or a descender does.
    top = max(0, top - int(h * rng.uniform(0.0, 0.3))) if rng.random() > 0.12 else top + int(h * rng.uniform(0.0, 0.12))
    bottom = (
        min(arr.shape[0], bottom + int(h * rng.uniform(0.0, 0.3)))
        if rng.random() > 0.08
        else bottom - int(h * rng.uniform(0.0, 0.1))
    )
    left = max(0, left - int(h * rng.uniform(0.0, 0.6)))
    right = min(arr.shape[1], right + int(h * rng.uniform(0.0, 0.6)))
    return np.ascontiguousarray(arr[top:bottom, left:right])
