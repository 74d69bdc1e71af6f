"""Anchors and the vertical/side coding of the CTPN paper.

Feature cell (i, j) at stride 16 owns a column of the image [16j, 16j + 16) and
K anchors centred at (16j + 8, 16i + 8) with fixed heights. A proposal keeps
the anchor's x range and regresses only its centre y and height:

    vc = (cy - cy_a) / h_a        vh = log(h / h_a)

Side refinement predicts where a line really ends, as an offset of the line's
left or right edge from the anchor centre, in anchor widths:

    o = (x_side - cx_a) / 16
"""

from __future__ import annotations

import numpy as np

from pipeline.nets.spec import ANCHOR_HEIGHTS, ANCHOR_WIDTH
from pipeline.nets.spec import CTPN_STRIDE as STRIDE


def make_anchors(h: int, w: int, heights=ANCHOR_HEIGHTS) -> np.ndarray:
    """Anchors for an (h, w) feature map as (h, w, K, 4) boxes x0, y0, x1, y1 in working-image pixels."""
    heights = np.asarray(heights, dtype=np.float32)
    k = len(heights)
    cy = (np.arange(h, dtype=np.float32) * STRIDE + STRIDE / 2)[:, None, None]  # (h, 1, 1)
    x0 = (np.arange(w, dtype=np.float32) * STRIDE)[None, :, None]  # (1, w, 1)
    out = np.empty((h, w, k, 4), dtype=np.float32)
    out[..., 0] = x0
    out[..., 1] = cy - heights / 2
    out[..., 2] = x0 + ANCHOR_WIDTH
    out[..., 3] = cy + heights / 2
    return out


def encode_vertical(anchors: np.ndarray, y0: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """Targets (..., 2) = (vc, vh) for boxes spanning rows y0..y1 against anchors (..., 4)."""
    ha = anchors[..., 3] - anchors[..., 1]
    cya = (anchors[..., 1] + anchors[..., 3]) / 2
    h = np.maximum(y1 - y0, 1.0)
    cy = (y0 + y1) / 2
    return np.stack([(cy - cya) / ha, np.log(h / ha)], axis=-1).astype(np.float32)


def decode_vertical(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Proposals (..., 4) from anchors (..., 4) and predicted (vc, vh) deltas (..., 2)."""
    ha = anchors[..., 3] - anchors[..., 1]
    cya = (anchors[..., 1] + anchors[..., 3]) / 2
    cy = deltas[..., 0] * ha + cya
    h = np.exp(np.clip(deltas[..., 1], -6.0, 6.0)) * ha
    out = anchors.copy()
    out[..., 1] = cy - h / 2
    out[..., 3] = cy + h / 2
    return out


def encode_side(anchors: np.ndarray, x_side: np.ndarray) -> np.ndarray:
    cxa = (anchors[..., 0] + anchors[..., 2]) / 2
    return ((x_side - cxa) / ANCHOR_WIDTH).astype(np.float32)


def decode_side(anchors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cxa = (anchors[..., 0] + anchors[..., 2]) / 2
    return offsets * ANCHOR_WIDTH + cxa
