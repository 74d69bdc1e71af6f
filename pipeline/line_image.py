"""The recognizer's input geometry, shared by inference and training so they cannot drift apart."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.nets.spec import CRNN_HEIGHT as HEIGHT
from pipeline.nets.spec import CRNN_STRIDE as STRIDE

MAX_WIDTH = 4096  # longer lines are squeezed; a 4096-px line at height 32 is ~120 CJK characters
MIN_WIDTH = 4 * STRIDE


def prepare_line(gray: np.ndarray, stretch: float = 1.0) -> np.ndarray:
    """A grayscale line crop (h, w) -> uint8 (32, W): height 32, aspect kept (times ``stretch``), W >= 16."""
    h, w = gray.shape[:2]
    width = int(round(w * stretch * HEIGHT / max(h, 1)))
    width = min(max(width, MIN_WIDTH), MAX_WIDTH)
    interp = cv2.INTER_AREA if h > HEIGHT else cv2.INTER_LINEAR
    return cv2.resize(gray, (width, HEIGHT), interpolation=interp)


def pad_batch(lines: list[np.ndarray], multiple: int = STRIDE) -> tuple[np.ndarray, list[int]]:
    """Stack prepared lines into (B, 32, Wmax) padded with each line's own edge colour; returns widths too."""
    widths = [line.shape[1] for line in lines]
    wmax = -(-max(widths) // multiple) * multiple
    out = np.empty((len(lines), HEIGHT, wmax), dtype=np.uint8)
    for i, line in enumerate(lines):
        out[i, :, : line.shape[1]] = line
        out[i, :, line.shape[1] :] = np.median(line[:, -1])
    return out, widths
