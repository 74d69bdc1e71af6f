"""Page pre-processing: upright rotation, contrast normalisation, deskew, working size.

The working-size convention is shared with training (import ``working_scale``
and ``to_working`` there): the upright page is scaled so that its longer side is
1280 px (never upscaled more than 2x), then padded right/bottom to multiples of
16 with the page background. A page whose text comes out too small for the
detector at that size (a newspaper, a dense low-resolution scan) is taken again
with a ``zoom`` that ``TextScale`` chooses from the first pass's line heights. Every step is an affine map kept in a
``PageGeometry`` so detections can be mapped back to original page pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.geometry import PageGeometry, deskew_matrix, scale_matrix, to_cv2, upright_matrix

WORKING_SIDE = 1280
MAX_UPSCALE = 2.0
MAX_ZOOM_SIDE = 4096  # longer side of a zoomed working image: bounds the detector's time and memory
ALIGN = 16  # the detector's stride
# Steepest text slope undone before detection. Scans lie within a few degrees, but photographed
# signs and pages are often tilted 10-20 degrees, which CTPN's horizontal columns only half cover.
# On our validation split of the real sets (2026-11-30) 20 took the scene photos' line H-mean from
# 0.496 to 0.526 (30 the same, 45 worse: 0.450) and changed nothing on forms, receipts or the
# validation PDFs.
MAX_SKEW = 20.0

_ROTATE_UPRIGHT = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def working_scale(h: int, w: int, zoom: float = 1.0) -> float:
    """Scale factor that brings the longer side of an (h, w) upright page to 1280 px, at most 2x;
    ``zoom`` > 1 enlarges that, up to a longer side of MAX_ZOOM_SIDE and never beyond 2x the
    page's own pixels (past that an upsampled page holds nothing new)."""
    base = min(WORKING_SIDE / max(h, w), MAX_UPSCALE)
    if zoom <= 1.0:
        return base
    return max(base, min(base * zoom, MAX_ZOOM_SIDE / max(h, w), MAX_UPSCALE))


def scaled_size(h: int, w: int, zoom: float = 1.0) -> tuple[int, int]:
    """(width, height) of the page after ``working_scale``, before padding."""
    s = working_scale(h, w, zoom)
    return max(1, round(w * s)), max(1, round(h * s))


def resize_to(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = gray.shape
    if (w, h) == (width, height):
        return gray
    shrinking = width * height < w * h
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def to_upright(gray: np.ndarray, angle: int) -> np.ndarray:
    """Undo a clockwise page rotation of ``angle`` degrees (0, 90, 180, 270)."""
    if angle == 0:
        return gray
    return cv2.rotate(gray, _ROTATE_UPRIGHT[angle])


def background_level(gray: np.ndarray) -> int:
    """The page's background grey: the median of a sparse sample (text is a minority of pixels)."""
    return int(np.median(gray[::4, ::4]))


def normalize_contrast(gray: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Dark text on a light background, with local contrast evened out by CLAHE."""
    if background_level(gray) < 96:  # light text on a dark page: the networks learn dark-on-light
        gray = 255 - gray
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    return clahe.apply(np.ascontiguousarray(gray))


def ink_mask(gray: np.ndarray, min_contrast: int = 40) -> np.ndarray:
    """Boolean mask of text-like (dark) pixels; all False on a blank or flat page.

    Otsu splits the histogram in two; unless the two halves' means lie at least
    ``min_contrast`` apart the split is paper noise, not ink.
    """
    otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)  # ink is <= the threshold
    t = int(otsu)
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    levels = np.arange(256)
    dark, light = hist[: t + 1].sum(), hist[t + 1 :].sum()
    if dark == 0 or light == 0:
        return np.zeros(gray.shape, dtype=bool)
    gap = (hist[t + 1 :] @ levels[t + 1 :]) / light - (hist[: t + 1] @ levels[: t + 1]) / dark
    if gap < min_contrast:
        return np.zeros(gray.shape, dtype=bool)
    # stay well below the paper even when Otsu's split lands close to it
    return gray <= min(t, background_level(gray) - min_contrast)


def stroke_mask(gray: np.ndarray, block: int = 31, offset: int = 20) -> np.ndarray:
    """``ink_mask`` without dark ground: ink pixels also darker than their neighbourhood's mean
    by ``offset``. A dark area (a banner, a poster, the shadowed half of a photo) is "ink" to Otsu,
    and its pixels outnumber the strokes: projected across slopes, its outline decides the page's
    skew. A page whose top half was a dark band with light lettering, a line of dark print below,
    was deskewed 14.6 degrees; with the strokes alone, 0. On the MSRA-TD500 training photos (which the detector has
    seen, so only the change says something) line H-mean 0.529 -> 0.540; our validation split of
    the scene photos 0.526 -> 0.522 (28 photos), forms, receipts and the validation PDFs unchanged."""
    local = gray.astype(np.float32) < cv2.blur(gray.astype(np.float32), (block, block)) - offset
    return ink_mask(gray) & local


def _profile_sharpness(xs: np.ndarray, ys: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Sum of squared row counts of ink projected across lines sloped at each angle."""
    t = np.radians(angles_deg)[:, None]  # (A, 1)
    rows = ys[None, :] * np.cos(t) - xs[None, :] * np.sin(t)  # (A, N): y after undoing the slope
    rows = np.floor(rows - rows.min()).astype(np.int64)
    nbins = int(rows.max()) + 1
    counts = np.bincount((rows + np.arange(len(angles_deg))[:, None] * nbins).ravel(), minlength=nbins * len(angles_deg)).reshape(
        len(angles_deg), nbins
    )
    return (counts.astype(np.float64) ** 2).sum(axis=1)


def estimate_skew(
    gray: np.ndarray, max_angle: float = 10.0, max_points: int = 30_000, min_points: int = 400, min_gain: float = 1.05
) -> float:
    """Slope of the text lines in degrees (clockwise positive) by projection profiles.

    Ink strokes (``stroke_mask``) are projected across candidate slopes; text rows give the sharpest
    profile at the true slope. Coarse 0.5 deg steps, then 0.1 deg around the best.
    Returns 0.0 when there is too little ink or the best slope is not clearly
    sharper than none.
    """
    ys, xs = np.nonzero(stroke_mask(gray))
    if len(xs) < min_points:
        return 0.0
    if len(xs) > max_points:  # an even, deterministic subsample
        step = len(xs) / max_points
        pick = (np.arange(max_points) * step).astype(np.int64)
        xs, ys = xs[pick], ys[pick]
    xs = xs.astype(np.float64)
    ys = ys.astype(np.float64)
    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.5)
    sharp = _profile_sharpness(xs, ys, coarse)
    best = coarse[int(np.argmax(sharp))]
    fine = np.clip(best + np.arange(-0.4, 0.41, 0.1), -max_angle, max_angle)
    fine_sharp = _profile_sharpness(xs, ys, np.concatenate([fine, [0.0]]))
    i = int(np.argmax(fine_sharp[:-1]))
    if fine_sharp[i] < min_gain * fine_sharp[-1] or abs(fine[i]) < 0.1:
        return 0.0
    return round(float(fine[i]), 2)


def pad_to_multiple(gray: np.ndarray, multiple: int, value: int) -> np.ndarray:
    h, w = gray.shape
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return gray
    return cv2.copyMakeBorder(gray, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=value)


def to_working(upright: np.ndarray, skew: float | None = 0.0, max_skew: float = MAX_SKEW, zoom: float = 1.0):
    """Upright grey page -> (working image, upright->working 3x3 matrix, content size, skew).

    ``skew=None`` estimates the slope of the text lines (within +-max_skew) and
    undoes it; a number undoes that slope; 0 keeps the page as it is.
    """
    h, w = upright.shape
    sw, sh = scaled_size(h, w, zoom)
    scaled = normalize_contrast(resize_to(upright, sw, sh))
    matrix = scale_matrix(sw / w, sh / h)
    if skew is None:
        skew = estimate_skew(scaled, max_skew)
    background = background_level(scaled)
    size = (sw, sh)
    if skew:
        rot, size = deskew_matrix(skew, sw, sh)
        scaled = cv2.warpAffine(
            scaled, to_cv2(rot), size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=background
        )
        matrix = rot @ matrix
    return pad_to_multiple(scaled, ALIGN, background), matrix, size, float(skew)


@dataclass
class PreparedPage:
    upright: np.ndarray  # uint8 grey, full resolution, text upright: lines are cropped from here
    working: np.ndarray  # uint8 grey, detector input, H and W multiples of 16
    geometry: PageGeometry


class Preprocessor:
    """Stage: grey page as given + its orientation -> upright page, working image, geometry."""

    def __init__(self, deskew: bool = True, max_skew: float = MAX_SKEW):
        self.deskew = deskew
        self.max_skew = max_skew

    def __call__(self, gray: np.ndarray, angle: int = 0, zoom: float = 1.0) -> PreparedPage:
        h, w = gray.shape
        to_up, upright_size = upright_matrix(angle, w, h)
        upright = to_upright(gray, angle)
        working, matrix, size, skew = to_working(upright, None if self.deskew else 0.0, self.max_skew, zoom)
        geometry = PageGeometry(
            original_size=(w, h),
            upright_size=upright_size,
            working_size=size,
            angle=angle,
            skew=skew,
            to_upright=to_up,
            upright_to_working=matrix,
        )
        return PreparedPage(upright=upright, working=working, geometry=geometry)


class TextScale:
    """Stage: the line heights the detector found at working size -> the zoom to look again at.

    The detector's anchors start at 11 px and its training lines are mostly 13-45
    px tall at working size; a page whose median line is smaller than ``small``
    (dense columns, a broadsheet scanned whole) loses most of its lines, so it is
    enlarged until that median reaches ``target``. Pages of ordinary documents
    (15-20 px at working size, at any dpi) are left alone and cost no second pass.
    """

    def __init__(self, small: float = 11.0, target: float = 20.0, min_lines: int = 3):
        self.small, self.target, self.min_lines = small, target, min_lines

    def __call__(self, heights: list[float]) -> float:
        if len(heights) < self.min_lines:
            return 1.0
        median = float(np.median(heights))
        return self.target / max(median, 1.0) if median < self.small else 1.0
