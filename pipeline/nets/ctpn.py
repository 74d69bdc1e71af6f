"""CTPN (Tian et al., 2016) with a light backbone.

A stride-16 conv backbone, a 3x3 window over its features, a BiLSTM along each
row of windows, and per-position outputs for 10 anchors of width 16 px:
text/non-text scores, vertical regression (centre y, height) and side
refinement (x offset of a line's end, in units of the anchor width).

Why not VGG16: 14.7M parameters and ~150 GFLOP for an A4 page at working size
do not fit a 1.5 s page budget on two CPU cores; document text lines are
simple shapes and a 5-stage, 128-channel backbone (~0.6M parameters) with the
same stride and receptive field covering the anchor heights does the job.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.nets.common import conv_bn
from pipeline.nets.spec import ANCHOR_HEIGHTS, ANCHOR_WIDTH, CtpnConfig
from pipeline.nets.spec import CTPN_STRIDE as STRIDE

__all__ = ["ANCHOR_HEIGHTS", "ANCHOR_WIDTH", "STRIDE", "CtpnConfig", "CtpnNet"]


class CtpnNet(nn.Module):
    def __init__(self, cfg: CtpnConfig):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3, c4 = cfg.channels
        # one stage per line, with its output shape
        # fmt: off
        self.backbone = nn.Sequential(
            conv_bn(1, c1, stride=2),  # /2
            conv_bn(c1, c2, stride=2), conv_bn(c2, c2),  # /4
            conv_bn(c2, c3, stride=2), conv_bn(c3, c3),  # /8
            conv_bn(c3, c4, stride=2), conv_bn(c4, c4), conv_bn(c4, c4),  # /16
        )
        # fmt: on
        self.window = conv_bn(c4, c4)  # the 3x3 sliding window of the paper
        self.rnn = nn.LSTM(c4, cfg.hidden, bidirectional=True, batch_first=True)
        self.fc = nn.Sequential(nn.Linear(2 * cfg.hidden, cfg.fc), nn.ReLU(inplace=True))
        k = cfg.num_anchors
        self.score = nn.Linear(cfg.fc, 2 * k)
        self.vertical = nn.Linear(cfg.fc, 2 * k)
        self.side = nn.Linear(cfg.fc, k)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (B, 1, H, W), H and W multiples of 16.

        Returns score logits (B, h, w, K, 2), vertical (B, h, w, K, 2) as (dy, dh),
        side (B, h, w, K) with h = H/16, w = W/16, K anchors.
        """
        f = self.window(self.backbone(x))  # (B, C, h, w)
        b, c, h, w = f.shape
        f = f.permute(0, 2, 3, 1).reshape(b * h, w, c)  # (B*h, w, C): each row a sequence
        f, _ = self.rnn(f)  # (B*h, w, 2*hidden)
        f = self.fc(f).reshape(b, h, w, -1)  # (B, h, w, fc)
        k = self.cfg.num_anchors
        score = self.score(f).reshape(b, h, w, k, 2)
        vertical = self.vertical(f).reshape(b, h, w, k, 2)
        side = self.side(f).reshape(b, h, w, k)
        return score, vertical, side
