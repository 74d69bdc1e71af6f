"""CRNN (Shi et al., 2015): CNN features -> BiLSTM over columns -> per-column class logits for CTC.

Input is a text line of height 32 and any width; one output step per 4 input
columns, so a character of ~16 px or wider gets at least 4 steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from pipeline.nets.common import conv_bn

HEIGHT = 32
STRIDE = 4  # input columns per output step


@dataclass
class CrnnConfig:
    num_classes: int  # including the CTC blank at index 0
    channels: tuple[int, ...] = (32, 64, 128, 256)
    hidden: int = 128  # per LSTM direction
    lstm_layers: int = 2
    head_rank: int = 0  # >0: factor the output layer through this width (cheap with thousands of classes)

    def to_dict(self) -> dict:
        return asdict(self)


class CrnnNet(nn.Module):
    def __init__(self, cfg: CrnnConfig):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3, c4 = cfg.channels
        # one stage per line, with its output shape
        # fmt: off
        self.cnn = nn.Sequential(
            conv_bn(1, c1), nn.MaxPool2d(2, 2),  # 32 -> 16 rows, W -> W/2
            conv_bn(c1, c2), nn.MaxPool2d(2, 2),  # 16 -> 8, W/2 -> W/4
            conv_bn(c2, c3), conv_bn(c3, c3), nn.MaxPool2d((2, 1), (2, 1)),  # 8 -> 4
            conv_bn(c3, c4), conv_bn(c4, c4), nn.MaxPool2d((2, 1), (2, 1)),  # 4 -> 2
            conv_bn(c4, c4, kernel=(2, 1)),  # 2 -> ... collapse the last rows below
        )
        # fmt: on
        self.rnn = nn.LSTM(c4, cfg.hidden, num_layers=cfg.lstm_layers, bidirectional=True)
        if cfg.head_rank:
            # 6,901 classes make a full 256x6901 output layer the costliest op per step on CPU;
            # a rank-r factorisation keeps accuracy for a fraction of the work.
            self.head = nn.Sequential(
                nn.Linear(2 * cfg.hidden, cfg.head_rank, bias=False), nn.Linear(cfg.head_rank, cfg.num_classes)
            )
        else:
            self.head = nn.Linear(2 * cfg.hidden, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, 32, W) -> logits (T, B, C) with T = W // 4."""
        f = self.cnn(x)  # (B, C4, h, T), h is 3 after the (2,1) kernel with padding (1,0)
        f = f.mean(dim=2)  # (B, C4, T): pool the remaining rows
        f = f.permute(2, 0, 1)  # (T, B, C4): sequence first for the LSTM
        f, _ = self.rnn(f)  # (T, B, 2*hidden)
        return self.head(f)  # (T, B, num_classes)
