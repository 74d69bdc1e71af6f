"""Deterministic "desktop scan" degradation of a clean page, with its true lines moved along.

Slight tilt (0.5-1.2 degrees either way), paper tone and faded ink (low contrast),
blur, sensor noise and JPEG compression, all drawn from a seeded generator so a
page always degrades the same way. Changing any of it means bumping DEGRADE_VERSION,
which invalidates the cached renders.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from bench.metrics import TextLine

DEGRADE_VERSION = "1"


def tilt_matrix(width: int, height: int, degrees: float) -> np.ndarray:
    """2x3 affine turning the page by ``degrees`` (counter-clockwise on screen) about its centre."""
    return cv2.getRotationMatrix2D((width / 2.0, height / 2.0), degrees, 1.0)


def move_lines(lines: list[TextLine], matrix: np.ndarray) -> list[TextLine]:
    moved = []
    for line in lines:
        pts = np.asarray(line.polygon, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]
        moved.append(TextLine([(round(float(x), 2), round(float(y), 2)) for x, y in pts], line.text, line.difficult))
    return moved


def scan_degrade(image: Image.Image, lines: list[TextLine], seed: int) -> tuple[Image.Image, list[TextLine]]:
    """(clean page, its lines) -> (grey scan-like page of the same size, lines in its pixels)."""
    rng = np.random.default_rng(seed)
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    height, width = gray.shape

    degrees = float(rng.uniform(0.5, 1.2) * rng.choice([-1.0, 1.0]))
    matrix = tilt_matrix(width, height, degrees)
    page = cv2.warpAffine(gray, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=255.0)

    ink, paper = float(rng.uniform(60, 95)), float(rng.uniform(200, 230))
    page = ink + page * ((paper - ink) / 255.0)
    page = cv2.GaussianBlur(page, (0, 0), sigmaX=float(rng.uniform(0.6, 1.0)))
    page = page + rng.normal(0.0, float(rng.uniform(5, 9)), size=page.shape)
    page = np.clip(page + 0.5, 0, 255).astype(np.uint8)

    quality = int(rng.integers(35, 56))
    ok, jpeg = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    page = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    return Image.fromarray(page), move_lines(lines, matrix)
