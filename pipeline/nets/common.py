"""Building blocks and the one input normalisation shared by every network."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pipeline.nets.spec import input_array


def to_input(gray: np.ndarray) -> torch.Tensor:
    """uint8 grayscale (H, W) or (B, H, W) -> float tensor (B, 1, H, W) in [-1, 1] (``spec.input_array``)."""
    return torch.from_numpy(input_array(gray))


def conv_bn(cin: int, cout: int, stride: int = 1, kernel: int | tuple[int, int] = 3) -> nn.Sequential:
    padding = (kernel[0] // 2, kernel[1] // 2) if isinstance(kernel, tuple) else kernel // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )
