"""What the networks take and give, without torch: hyper-parameters, fixed shapes, input scaling.

The stages' pre- and post-processing and the ONNX runtime need these, and the
ONNX path must never import torch (``import torch`` is most of a cold ``ocr run``);
the torch modules in this package import them from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# CRNN: a text line of height 32 and any width; one output step per 4 input columns.
CRNN_HEIGHT = 32
CRNN_STRIDE = 4
# The readout's classes per frame: greedy decoding takes the first, beam search may take the others.
CRNN_TOP_K = 4

# CTPN: stride-16 features, anchors 16 px wide with the CTPN paper's heights (x1/0.7 each).
CTPN_STRIDE = 16
ANCHOR_WIDTH = 16
ANCHOR_HEIGHTS = (11, 16, 23, 33, 48, 68, 97, 139, 198, 283)

# Orientation: square patches, classes are clockwise page rotations.
PATCH = 96
ANGLES = (0, 90, 180, 270)


@dataclass
class CrnnConfig:
    num_classes: int  # including the CTC blank at index 0
    channels: tuple[int, ...] = (32, 64, 128, 256)
    hidden: int = 128  # per LSTM direction
    lstm_layers: int = 2
    head_rank: int = 0  # >0: factor the output layer through this width (cheap with thousands of classes)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CtpnConfig:
    channels: tuple[int, ...] = (16, 32, 64, 128)
    hidden: int = 64  # per LSTM direction
    fc: int = 128
    num_anchors: int = len(ANCHOR_HEIGHTS)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class OrientationConfig:
    channels: tuple[int, ...] = (16, 32, 64, 128)
    num_classes: int = len(ANGLES)

    def to_dict(self) -> dict:
        return asdict(self)


def input_array(gray: np.ndarray) -> np.ndarray:
    """uint8 grayscale (H, W) or (B, H, W) -> float32 (B, 1, H, W) in [-1, 1]: every network's input."""
    a = np.asarray(gray)
    if a.ndim == 2:
        a = a[None]
    return np.ascontiguousarray(a[:, None], dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
