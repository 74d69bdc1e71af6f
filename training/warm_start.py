"""Start a recognizer from another trained one: copy its features, map its classes.

CTC from random weights sits on an all-blank plateau for tens of thousands of
lines before it learns anything; a 6,901-class model is slower still. The
English recognizer has already learnt strokes, line features and the ASCII
classes, so the mixed model starts from it: the convolution and LSTM layers are
copied as they are, and the output layer is set so that every character the two
charsets share scores exactly as it did in the source model. Characters the
source never saw (the hanzi) keep small random weights and a low bias, so the
new model reads English from step 0 and learns Chinese from there.
"""

from __future__ import annotations

import torch

from pipeline.charset import BLANK, Charset
from pipeline.nets.crnn import CrnnNet

UNSEEN_BIAS = -4.0  # logit offset for classes the source model had no output for


@torch.no_grad()
def transfer_crnn(src: CrnnNet, src_charset: Charset, dst: CrnnNet, dst_charset: Charset) -> int:
    """Copy ``src`` into ``dst``; returns how many output classes were carried over."""
    own = dst.state_dict()
    body = {k: v for k, v in src.state_dict().items() if not k.startswith("head.")}
    mismatched = [k for k, v in body.items() if k not in own or own[k].shape != v.shape]
    if mismatched:
        raise ValueError(f"source and target recognizers differ in {mismatched[:3]}")
    dst.load_state_dict(body, strict=False)

    src_w, src_b = _linear_head(src)  # (C_src, 2H), (C_src,)
    pairs = [(BLANK, BLANK)] + [(dst_charset.index[c], i) for c, i in src_charset.index.items() if c in dst_charset.index]
    if dst.cfg.head_rank:
        project, classify = dst.head[0], dst.head[1]  # (r, 2H), (C_dst, r)
        if project.out_features < src_w.shape[0]:
            raise ValueError("the target's head rank is below the source's class count")
        # the projection reproduces the source's logits in its first C_src dimensions
        project.weight.zero_()
        project.weight[: src_w.shape[0]] = src_w
        classify.weight.mul_(0.1)
        classify.bias.fill_(UNSEEN_BIAS)
        for d, s in pairs:
            classify.weight[d].zero_()
            classify.weight[d, s] = 1.0
            classify.bias[d] = src_b[s]
    else:
        dst.head.weight.mul_(0.1)
        dst.head.bias.fill_(UNSEEN_BIAS)
        for d, s in pairs:
            dst.head.weight[d] = src_w[s]
            dst.head.bias[d] = src_b[s]
    return len(pairs)


def _linear_head(model: CrnnNet) -> tuple[torch.Tensor, torch.Tensor]:
    """The source's output layer as one (classes, features) matrix and bias."""
    if model.cfg.head_rank:
        project, classify = model.head[0], model.head[1]
        return classify.weight @ project.weight, classify.bias
    return model.head.weight, model.head.bias
