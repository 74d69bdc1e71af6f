"""Degradations that make clean renders look like desktop scans and phone photos.

All functions take and return uint8 grayscale arrays and draw randomness only
from the ``rng`` they are given, so a seed reproduces a sample.
"""

from __future__ import annotations

import random

import cv2
import numpy as np


def blur(img: np.ndarray, rng: random.Random) -> np.ndarray:
    sigma = rng.uniform(0.3, 1.3)
    return cv2.GaussianBlur(img, (0, 0), sigma)


def noise(img: np.ndarray, rng: random.Random) -> np.ndarray:
    sigma = rng.uniform(2, 14)
    n = np.random.default_rng(rng.getrandbits(32)).normal(0, sigma, img.shape)
    return np.clip(img.astype(np.float32) + n, 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, rng: random.Random, quality: tuple[int, int] = (25, 90)) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(*quality)])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else img


def low_contrast(img: np.ndarray, rng: random.Random) -> np.ndarray:
    lo, hi = rng.uniform(0, 90), rng.uniform(170, 255)
    return (lo + img.astype(np.float32) * (hi - lo) / 255).astype(np.uint8)


def binarise(img: np.ndarray, rng: random.Random) -> np.ndarray:
    _, out = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


def resolution_loss(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Down- then up-sample: text scanned or photographed smaller than it is shown."""
    f = rng.uniform(0.4, 0.8)
    h, w = img.shape
    small = cv2.resize(img, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def uneven_light(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A linear light gradient with an optional soft shadow band, as in phone photos."""
    h, w = img.shape
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = np.cos(angle) * xx / max(w, 1) + np.sin(angle) * yy / max(h, 1)
    gain = 1.0 - rng.uniform(0.1, 0.45) * (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    if rng.random() < 0.3:
        x0 = rng.uniform(0, w)
        gain *= 1.0 - 0.35 * np.exp(-(((xx - x0) / (0.1 * w + 1)) ** 2))
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def motion_blur(img: np.ndarray, rng: random.Random, longest: int = 11) -> np.ndarray:
    """A hand that moved during the exposure: a short straight smear at a random angle."""
    length = rng.randint(3, max(3, longest))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    turn = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, turn, (length, length))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6), borderType=cv2.BORDER_REPLICATE)


def moire(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A screen or halftone photographed: two fine gratings a few per cent apart in period and angle
    (the pixel grid and the sensor's) beat into broad bands; the lens blurs most of the fine grating
    away and leaves the bands."""
    h, w = img.shape
    y, x = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]

    def grating(period: float, angle: float) -> np.ndarray:
        return 0.5 + 0.5 * np.cos(
            (x * np.float32(np.cos(angle)) + y * np.float32(np.sin(angle))) * np.float32(2 * np.pi / period)
        )

    period, angle = rng.uniform(1.8, 4.0), rng.uniform(0, np.pi)
    beat = grating(period, angle) * grating(period * rng.uniform(1.02, 1.12), angle + rng.uniform(-0.08, 0.08))
    beat = cv2.GaussianBlur(beat, (0, 0), period * rng.uniform(0.3, 0.6))
    beat = (beat - beat.min()) / max(float(np.ptp(beat)), 1e-6)
    screen = 1.0 - rng.uniform(0.06, 0.25) * beat
    return np.clip(img.astype(np.float32) * screen, 0, 255).astype(np.uint8)


def perspective(img: np.ndarray, rng: random.Random, amount: float = 0.04) -> np.ndarray:
    h, w = img.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = np.float32([[rng.uniform(-amount, amount) * w, rng.uniform(-amount, amount) * h] for _ in range(4)])
    m = cv2.getPerspectiveTransform(src, src + jitter)
    border = int(np.median(np.concatenate([img[0], img[-1]])))
    return cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def table_rules(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Ruling lines at the crop's edges: table cells and underlines cut with their text."""
    out = img.copy()
    h, w = out.shape
    ink = int(np.percentile(out, 2))
    thick = rng.choice((1, 1, 2))
    for side in rng.choice((("top",), ("bottom",), ("top", "bottom"), ("left",), ("right",), ("top", "left"))):
        at = rng.randint(0, max(0, min(h, w) // 8))
        if side == "top":
            out[at : at + thick, :] = ink
        elif side == "bottom":
            out[h - at - thick : h - at, :] = ink
        elif side == "left":
            out[:, at : at + thick] = ink
        else:
            out[:, w - at - thick : w - at] = ink
    return out


def neighbour_ink(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A strip of the line's own edge stacked on the other side: the descenders of the line
    above or the ascenders of the line below, caught by a loose detection box."""
    h = img.shape[0]
    k = max(1, int(h * rng.uniform(0.08, 0.22)))
    gap = np.full((rng.randint(0, max(1, h // 10)), img.shape[1]), int(np.median(img)), np.uint8)
    if rng.random() < 0.5:
        return np.vstack([img[-k:], gap, img])
    return np.vstack([img, gap, img[:k]])


def scene(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A word on a sign, a shop front or a package: any two tones (often low contrast, either
    way round), a textured or graded background, now and then the sign's border or something
    across the word, a tilt and a camera's perspective."""
    h, w = img.shape
    ink = 1.0 - img.astype(np.float32) / 255.0  # 1 where the glyphs are
    bg = rng.uniform(0, 255)
    fg = rng.choice((rng.uniform(0, max(0.0, bg - 60)), rng.uniform(min(255.0, bg + 60), 255)))
    if abs(fg - bg) < 60:
        fg = 255 - bg
    base = np.full((h, w), bg, np.float32)
    if rng.random() < 0.5:  # texture: smoothed noise, as brick, wood or fabric behind the word
        tex = cv2.GaussianBlur(
            np.random.default_rng(rng.getrandbits(32)).normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(0.8, 4)
        )
        base += tex / max(float(np.abs(tex).max()), 1e-6) * rng.uniform(8, 35)
    if rng.random() < 0.3:  # a drop shadow or an outline beside the strokes
        dx, dy = rng.randint(-2, 2), rng.randint(1, 3)
        shadow = np.roll(np.roll(ink, dy, 0), dx, 1)
        base = base * (1 - shadow) + rng.uniform(0, 255) * shadow
    out = base * (1 - ink) + fg * ink
    if rng.random() < 0.3:  # the sign's own border, which a word's box on a small sign takes in
        thick = rng.randint(1, max(1, h // 12))
        inset = rng.randint(0, max(0, h // 10))
        tone = fg if rng.random() < 0.7 else rng.uniform(0, 255)
        cv2.rectangle(out, (inset, inset), (w - 1 - inset, h - 1 - inset), float(tone), thick)
    if rng.random() < 0.15:  # a pole, a cable or a shadow across part of the word
        band = np.zeros((h, w), np.float32)
        x0, x1 = rng.uniform(0, w), rng.uniform(0, w)
        cv2.line(band, (round(x0), 0), (round(x1), h - 1), 1.0, max(1, round(w * rng.uniform(0.03, 0.15))))
        band = cv2.GaussianBlur(band, (0, 0), rng.uniform(0.5, 3)) * rng.uniform(0.25, 0.6)
        out = out * (1 - band) + rng.choice((rng.uniform(0, 60), rng.uniform(190, 255))) * band
    out = np.clip(out, 0, 255).astype(np.uint8)
    out = perspective(out, rng, amount=rng.uniform(0.03, 0.1))
    if rng.random() < 0.5:
        out = uneven_light(out, rng)
    return out


SCAN = (blur, noise, jpeg, low_contrast, binarise, resolution_loss)
PHOTO = (blur, noise, jpeg, uneven_light, perspective, resolution_loss)


def degrade(img: np.ndarray, rng: random.Random, strength: float = 0.5) -> np.ndarray:
    """Apply a random subset of scan or photo degradations; ``strength`` is the chance of each."""
    ops = SCAN if rng.random() < 0.6 else PHOTO
    for op in ops:
        if rng.random() < strength * (0.4 if op is binarise else 1.0):
            img = op(img, rng)
    return img
