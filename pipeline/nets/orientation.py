"""Page orientation classifier: a small CNN over text patches -> 4 classes (0, 90, 180, 270 deg).

The stage feeds several patches of one page and averages their log-probabilities:
one patch of text at reading size tells up from down; a thumbnail of the
whole page does not.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.nets.common import conv_bn
from pipeline.nets.spec import ANGLES, PATCH, OrientationConfig  # PATCH: square patch side at the classifier's scale

__all__ = ["ANGLES", "PATCH", "OrientationConfig", "OrientationNet"]


class OrientationNet(nn.Module):
    def __init__(self, cfg: OrientationConfig):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3, c4 = cfg.channels
        # one stage per line, with its output shape
        # fmt: off
        self.features = nn.Sequential(
            conv_bn(1, c1), nn.MaxPool2d(2),  # 96 -> 48
            conv_bn(c1, c2), nn.MaxPool2d(2),  # 48 -> 24
            conv_bn(c2, c3), conv_bn(c3, c3), nn.MaxPool2d(2),  # 24 -> 12
            conv_bn(c3, c4), conv_bn(c4, c4), nn.MaxPool2d(2),  # 12 -> 6
        )
        # fmt: on
        self.head = nn.Linear(c4, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, 96, 96) -> logits (B, 4), class i = page rotated clockwise by ANGLES[i]."""
        f = self.features(x)  # (B, C, 6, 6)
        f = f.mean(dim=(2, 3))  # (B, C): global average pool
        return self.head(f)
