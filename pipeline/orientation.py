"""Orientation stage: grey page -> (clockwise rotation in {0, 90, 180, 270}, confidence).

The page is scaled like the detector's working image (longer side 1280 px) and
contrast-normalised; the PATCH x PATCH tiles with the most edge energy among
those that hold some ink are classified, and their log-probabilities averaged.
Each tile is also classified turned by 180 degrees (its class shifts by two):
upside-down text is the costly mistake, and the second view halves the
network's own bias between the two readings for a few milliseconds a page.
Training imports ``page_patches`` so it sees exactly what inference sees.
"""

from __future__ import annotations

import numpy as np

from pipeline.nets.spec import ANGLES, PATCH, input_array
from pipeline.preprocess import background_level, ink_mask, normalize_contrast, pad_to_multiple, resize_to, scaled_size
from pipeline.runtime import as_network

MAX_PATCHES = 12
MIN_INK = 0.02  # a tile with less ink than this says nothing about orientation
MAX_INK = 0.6  # more than this is a picture or a black border, not text
# Most pages arrive upright, and turning an upright page wrecks it while leaving a turned one
# upright costs the same: a page is turned only when its best reading beats the upright one by
# this factor. On the synthetic validation pages (all four turns equally often) 1.25 costs no
# accuracy; it keeps short one-line images, where the patches say little, the way they came.
MIN_TURN_RATIO = 1.25
# Nor is a page turned on a guess: the turned reading must be more likely than all the others together
# (a page was seen turned at 0.47, upright 0.30), since a wrong turn costs the whole page.
MIN_TURN_CONFIDENCE = 0.5


def page_patches(
    gray: np.ndarray, max_patches: int = MAX_PATCHES, min_ink: float = MIN_INK, max_ink: float = MAX_INK
) -> np.ndarray:
    """Grey page (H, W) -> up to ``max_patches`` uint8 patches (N, PATCH, PATCH), best first.

    Tiles lie on a fixed grid; ties in edge energy go to the earlier tile in
    row-major order, so the choice is deterministic.
    """
    h, w = gray.shape
    sw, sh = scaled_size(h, w)
    page = normalize_contrast(resize_to(gray, sw, sh))
    page = pad_to_multiple(page, PATCH, background_level(page))
    ink = ink_mask(page)
    ph, pw = page.shape
    rows, cols = ph // PATCH, pw // PATCH

    p = page.astype(np.int16)
    edges = np.zeros(page.shape, dtype=np.int32)
    edges[:, 1:] += np.abs(np.diff(p, axis=1))
    edges[1:, :] += np.abs(np.diff(p, axis=0))

    def per_tile(a: np.ndarray) -> np.ndarray:
        return a.reshape(rows, PATCH, cols, PATCH).sum(axis=(1, 3), dtype=np.int64).ravel()

    ink_frac = per_tile(ink) / float(PATCH * PATCH)
    energy = per_tile(edges)
    eligible = np.flatnonzero((ink_frac >= min_ink) & (ink_frac <= max_ink))
    order = eligible[np.argsort(-energy[eligible], kind="stable")][:max_patches]
    tiles = page.reshape(rows, PATCH, cols, PATCH).transpose(0, 2, 1, 3).reshape(rows * cols, PATCH, PATCH)
    return np.ascontiguousarray(tiles[order])


class OrientationClassifier:
    """Stage: grey page (uint8, H x W) -> (angle, confidence).

    ``angle`` is the clockwise rotation of the page as given; the pipeline turns
    the page back by it, and only when that reading is ``min_turn_ratio`` times
    as likely as the upright one and more likely than ``min_turn_confidence``. The confidence is the softmax of the mean
    per-patch log-probabilities; a page without usable patches returns
    (0, 0.25), the uniform probability over the four classes. ``net`` is an
    OrientationNet (or any module with its logits) on ``device``, or an OnnxNetwork.
    """

    def __init__(
        self,
        net,
        device="cpu",
        max_patches: int = MAX_PATCHES,
        views: tuple[int, ...] = (0, 2),
        min_turn_ratio: float = MIN_TURN_RATIO,
        min_turn_confidence: float = MIN_TURN_CONFIDENCE,
    ):
        self.net = net
        self.device = device
        self.network = as_network(net, device)
        self.max_patches = max_patches
        self.views = views  # quarter turns clockwise applied to each patch before classifying it
        self.min_turn_ratio = min_turn_ratio
        self.min_turn_confidence = min_turn_confidence

    def probabilities(self, gray: np.ndarray) -> np.ndarray | None:
        """Class probabilities (4,) in ANGLES order, or None when the page has no text patches."""
        patches = page_patches(gray, self.max_patches)
        return self.classify_patches(patches) if len(patches) else None

    def classify_patches(self, patches: np.ndarray) -> np.ndarray:
        """Patches (N, PATCH, PATCH) of one page -> the page's class probabilities (4,)."""
        n = len(patches)
        turned = np.concatenate([np.rot90(patches, k=-q, axes=(1, 2)) for q in self.views])  # (V*N, P, P)
        logits = self.network(input_array(turned))[0].astype(np.float64)  # (V*N, 4)
        top = logits.max(axis=1, keepdims=True)
        log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
        # a patch turned by q quarters reads as class (c + q) % 4: roll each view back to the page's classes
        aligned = np.concatenate([np.roll(log_probs[v * n : (v + 1) * n], -q, axis=1) for v, q in enumerate(self.views)])
        mean_log_prob = aligned.mean(axis=0)  # (4,)
        probs = np.exp(mean_log_prob - mean_log_prob.max())
        return probs / probs.sum()

    def __call__(self, gray: np.ndarray) -> tuple[int, float]:
        probs = self.probabilities(gray)
        if probs is None:
            return 0, 1.0 / len(ANGLES)
        best = int(np.argmax(probs))
        if probs[best] < self.min_turn_ratio * probs[0] or probs[best] <= self.min_turn_confidence:
            best = 0
        return ANGLES[best], float(probs[best])
