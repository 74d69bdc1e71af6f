"""CRNN (Shi et al., 2015): CNN features -> BiLSTM over columns -> per-column class logits for CTC.

Input is a text line of height 32 and any width; one output step per 4 input
columns, so a character of ~16 px or wider gets at least 4 steps.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.nets.common import conv_bn
from pipeline.nets.spec import CRNN_HEIGHT as HEIGHT
from pipeline.nets.spec import CRNN_STRIDE as STRIDE  # input columns per output step
from pipeline.nets.spec import CrnnConfig

__all__ = ["HEIGHT", "STRIDE", "CrnnConfig", "CrnnNet", "CrnnReadout"]


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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, 32, W) -> per-step features (T, B, 2*hidden) with T = W // 4."""
        f = self.cnn(x)  # (B, C4, h, T), h is 3 after the (2,1) kernel with padding (1,0)
        f = f.mean(dim=2)  # (B, C4, T): pool the remaining rows
        f = f.permute(2, 0, 1)  # (T, B, C4): sequence first for the LSTM
        f, _ = self.rnn(f)  # (T, B, 2*hidden)
        return f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, 32, W) -> logits (T, B, C) with T = W // 4."""
        return self.head(self.encode(x))  # (T, B, num_classes)

    def logits_with_bias(self, x: torch.Tensor, class_bias: torch.Tensor) -> torch.Tensor:
        """forward(x) + class_bias, with class_bias folded into the output layer's own (C,) bias: one
        (T, B, C) addition instead of two, on the widest tensor of the net."""
        *body, last = self.head if isinstance(self.head, nn.Sequential) else (self.head,)
        f = self.encode(x)
        for layer in body:
            f = layer(f)  # (T, B, head_rank) for a factored head
        return nn.functional.linear(f, last.weight, last.bias + class_bias.to(last.bias.dtype))  # (T, B, C)


class CrnnReadout(nn.Module):
    """A CRNN (any module giving (T, B, C) logits) plus the per-frame part of greedy CTC decoding.

    Returns each frame's best class and its softmax probability, (T, B) each, so the
    (T, B, C) logits (C is 6,901 for the mixed model) never leave the runtime: the same
    module runs in torch and is what the ONNX export writes. ``class_bias`` (C,) is
    added to the logits first: 0, or -inf for classes the language may not say.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, class_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.net, CrnnNet):
            logits = self.net.logits_with_bias(x, class_bias).float()  # (T, B, C)
        else:
            logits = self.net(x).float() + class_bias
        # A whole softmax, then its top entry: ONNX Runtime's Softmax is vectorised, while
        # exp(top - logsumexp) ran its slow generic ReduceLogSumExp (a quarter of the CRNN's time on a
        # page). In the exported graph, TopK(k=1) gives entry and index in one pass (ONNX Runtime's ArgMax
        # over the 9,019 classes took 37 ms on 1,968 frames, TopK 25), and ONNX's TopK breaks ties by the
        # lower index, as argmax does; torch.topk does not promise that, so torch itself takes the argmax
        # and gathers its entry (the same time in torch either way).
        probs = torch.softmax(logits, dim=2)  # (T, B, C)
        if torch.onnx.is_in_onnx_export():
            prob, best = probs.topk(1, dim=2)  # (T, B, 1) each
            return best.squeeze(2), prob.squeeze(2)
        best = logits.argmax(dim=2)  # (T, B)
        return best, probs.gather(2, best.unsqueeze(2)).squeeze(2)
