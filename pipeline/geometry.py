"""Affine maps between the original page, the upright page and the working image.

Coordinates are continuous with pixel (i, j) covering [j, j + 1) x [i, i + 1),
so the corners of an image of width W are x = 0 and x = W. Matrices are 3x3
and act on column vectors (x, y, 1); composition reads right to left.

The pipeline sees a page in three frames:
    original  -- the page as given (after EXIF orientation)
    upright   -- rotated by a multiple of 90 deg so that text reads upright
    working   -- deskewed and scaled for the detector, padded right/bottom
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np


def apply(matrix: np.ndarray, points) -> np.ndarray:
    """Map points (N, 2) (or one point (2,)) through a 3x3 affine matrix."""
    pts = np.asarray(points, dtype=np.float64)
    flat = pts.reshape(-1, 2)
    out = flat @ matrix[:2, :2].T + matrix[:2, 2]
    return out.reshape(pts.shape)


def scale_matrix(sx: float, sy: float) -> np.ndarray:
    return np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])


def translation_matrix(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def upright_matrix(angle: int, width: int, height: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Original -> upright for a page (width x height) rotated clockwise by ``angle``.

    Undoing a clockwise rotation means turning the page counter-clockwise by the
    same angle. Returns the matrix and the upright size (width, height).
    """
    if angle == 0:
        return np.eye(3), (width, height)
    if angle == 90:  # turn counter-clockwise: (x, y) -> (y, W - x)
        return np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, width], [0.0, 0.0, 1.0]]), (height, width)
    if angle == 180:
        return np.array([[-1.0, 0.0, width], [0.0, -1.0, height], [0.0, 0.0, 1.0]]), (width, height)
    if angle == 270:  # turn clockwise: (x, y) -> (H - y, x)
        return np.array([[0.0, -1.0, height], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), (height, width)
    raise ValueError(f"angle must be 0, 90, 180 or 270, not {angle!r}")


def deskew_matrix(skew: float, width: int, height: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Rotate an image whose text lines slope by ``skew`` degrees (clockwise positive,
    i.e. y grows with x) so that they become horizontal, on a canvas grown to hold
    the whole rotated image. Returns the matrix and the canvas size (width, height).
    """
    t = math.radians(skew)
    c, s = math.cos(t), math.sin(t)
    out_w = int(math.ceil(width * abs(c) + height * abs(s) - 1e-6))
    out_h = int(math.ceil(width * abs(s) + height * abs(c) - 1e-6))
    # a line y = x tan(t) + b becomes horizontal: x' = x c + y s, y' = -x s + y c
    rot = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    m = translation_matrix(out_w / 2, out_h / 2) @ rot @ translation_matrix(-width / 2, -height / 2)
    return m, (out_w, out_h)


def to_cv2(matrix: np.ndarray) -> np.ndarray:
    """The 2x3 matrix for cv2.warpAffine, whose pixel centres sit at integer coordinates."""
    shifted = translation_matrix(-0.5, -0.5) @ matrix @ translation_matrix(0.5, 0.5)
    return shifted[:2].astype(np.float64)


@dataclass(frozen=True)
class PageGeometry:
    """How one page was turned into the working image, and the way back."""

    original_size: tuple[int, int]  # width, height of the page as given
    upright_size: tuple[int, int]
    working_size: tuple[int, int]  # content width, height inside the padded working image
    angle: int  # clockwise rotation of the page as given, undone by ``to_upright``
    skew: float  # degrees, clockwise positive, undone in the working image
    to_upright: np.ndarray  # 3x3, original -> upright
    upright_to_working: np.ndarray  # 3x3, upright -> working

    # The inverses are computed once per page: every line, word and character box is mapped back.
    @functools.cached_property
    def _working_to_upright(self) -> np.ndarray:
        return np.linalg.inv(self.upright_to_working)

    @functools.cached_property
    def _upright_to_original(self) -> np.ndarray:
        return np.linalg.inv(self.to_upright)

    @functools.cached_property
    def _working_to_original(self) -> np.ndarray:
        return np.linalg.inv(self.upright_to_working @ self.to_upright)

    def working_to_upright(self, points) -> np.ndarray:
        return apply(self._working_to_upright, points)

    def upright_to_original(self, points) -> np.ndarray:
        return apply(self._upright_to_original, points)

    def working_to_original(self, points) -> np.ndarray:
        return apply(self._working_to_original, points)

    def original_to_working(self, points) -> np.ndarray:
        return apply(self.upright_to_working @ self.to_upright, points)
