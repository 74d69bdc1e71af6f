"""The detection picture: the page with each line's quadrilateral and reading-order number drawn on it."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from pipeline.result import Page

LINE_COLOUR = (220, 30, 30)
NUMBER_COLOUR = (20, 60, 220)


def draw_detections(image: Image.Image | np.ndarray, page: Page) -> Image.Image:
    """An RGB copy of ``image`` (the page as given, same size as ``page``) with the lines drawn."""
    picture = Image.fromarray(np.asarray(image)) if isinstance(image, np.ndarray) else image
    picture = picture.convert("RGB")  # always a copy
    draw = ImageDraw.Draw(picture)
    width = max(2, round(max(picture.size) / 700))
    for number, line in enumerate(page.lines, start=1):
        points = [(float(x), float(y)) for x, y in line.polygon]
        draw.polygon(points, outline=LINE_COLOUR, width=width)
        x, y = points[0]
        draw.text((x, max(0.0, y - 12)), str(number), fill=NUMBER_COLOUR)
    return picture
