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
from pipeline.nets.spec import CRNN_TOP_K, CrnnConfig

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
    """A CRNN (any module giving (T, B, C) logits) plus the per-frame part of CTC decoding.

    Returns each frame's ``CRNN_TOP_K`` most probable classes and their softmax probabilities,
    (T, B, K) each, best first, so the (T, B, C) logits (C is 6,901 for the mixed model) never
    leave the runtime: the same module runs in torch and is what the ONNX export writes. The
    best class is greedy decoding's; the rest are what beam search with the language model
    (pipeline/charlm.py) may choose instead. ``class_bias`` (C,) is added to the logits first:
    0, or -inf for classes the language may not say.
    """

    def __init__(self, net: nn.Module, top_k: int = CRNN_TOP_K):
        super().__init__()
        self.net = net
        self.top_k = top_k

    def forward(self, x: torch.Tensor, class_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.net, CrnnNet):
            logits = self.net.logits_with_bias(x, class_bias).float()  # (T, B, C)
        else:
            logits = self.net(x).float() + class_bias
        # A whole softmax, then its top entries: ONNX Runtime's Softmax is vectorised, while
        # exp(top - logsumexp) ran its slow generic ReduceLogSumExp (a quarter of the CRNN's time on a
        # page). In the exported graph, TopK gives entries and indices in one pass (ONNX Runtime's ArgMax
        # over the 9,019 classes took 37 ms on 1,968 frames, TopK 25), and ONNX's TopK breaks ties by the
        # lower index, as argmax does; torch.topk does not promise that, so torch takes the argmax for
        # the best class and its top K for the rest (the same time in torch either way).
        probs = torch.softmax(logits, dim=2)  # (T, B, C)
        prob, best = probs.topk(min(self.top_k, probs.shape[2]), dim=2)  # (T, B, K) each
        if torch.onnx.is_in_onnx_export():
            return best, prob
        first = logits.argmax(dim=2, keepdim=True)  # (T, B, 1)
        best = torch.cat([first, best[..., 1:]], dim=2)
        prob = torch.cat([probs.gather(2, first), prob[..., 1:]], dim=2)
        return best, prob
