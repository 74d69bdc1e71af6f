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

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from core.settings import get_settings
from pipeline.charset import BLANK, Charset
from pipeline.models import load_model
from pipeline.nets.crnn import CrnnNet
from pipeline.weights import save_model

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


@torch.no_grad()
def extend_classes(src: CrnnNet, src_charset: Charset, dst_charset: Charset) -> CrnnNet:
    """``src`` with output classes for every character of ``dst_charset`` (a superset of its own).

    Everything is copied and each known character keeps its logit; the new
    classes start with small weights and a low bias, so the model reads exactly
    as before until training teaches it the new characters.
    """
    missing = [c for c in src_charset.chars if c not in dst_charset.index]
    if missing:
        raise ValueError(f"the new charset drops {''.join(missing[:10])!r}")
    dst = CrnnNet(replace(src.cfg, num_classes=dst_charset.num_classes))
    out = dst.head[-1] if src.cfg.head_rank else dst.head  # the layer whose rows are classes
    out_src = src.head[-1] if src.cfg.head_rank else src.head
    own = dst.state_dict()
    dst.load_state_dict({k: v for k, v in src.state_dict().items() if own[k].shape == v.shape}, strict=False)
    out.weight.mul_(0.1)
    out.bias.fill_(UNSEEN_BIAS)
    rows = [BLANK] + [src_charset.index[c] for c in src_charset.chars]
    new_rows = [BLANK] + [dst_charset.index[c] for c in src_charset.chars]
    out.weight[new_rows] = out_src.weight[rows]
    out.bias[new_rows] = out_src.bias[rows]
    return dst


def add_characters(name: str, chars: str, model_dir: Path) -> int:
    """Give the shipped recognizer ``name`` classes for ``chars``; rewrites its charset, weights and card."""
    loaded = load_model(name, "cpu", Path(model_dir))
    card = loaded.card  # a fresh copy: load_model caches nothing
    new = [c for c in dict.fromkeys(chars) if c not in loaded.charset.index]
    charset = Charset(loaded.charset.chars + new)
    model = extend_classes(loaded.net, loaded.charset, charset)
    charset.save(Path(model_dir) / card["charset"])
    card["config"] = model.cfg.to_dict()
    card.setdefault("training", {}).setdefault("charset_extended", []).append(
        {"step": card["training"].get("steps", 0), "added": "".join(new)}
    )
    for key in ("name", "weights", "dtype", "sha256"):
        card.pop(key, None)
    save_model(model, model_dir, name, card)
    return len(new)


def main() -> None:
    ap = argparse.ArgumentParser(description="Add output classes to a shipped recognizer, keeping what it has learnt.")
    ap.add_argument("model", help="e.g. crnn_mix")
    ap.add_argument("chars", help="the characters to add")
    ap.add_argument("--model-dir", type=Path, default=None, help="default: OCR_MODEL_DIR (models/)")
    args = ap.parse_args()
    model_dir = args.model_dir or get_settings().model_dir
    added = add_characters(args.model, args.chars, model_dir)
    print(f"{args.model}: {added} characters added")


if __name__ == "__main__":
    main()
