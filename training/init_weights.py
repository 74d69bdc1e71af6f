"""Write randomly initialised weights (all models, or those named: python -m training.init_weights crnn_en).

Only for a fresh checkout of the architecture; trained weights replace these.
"""

from __future__ import annotations

import sys

import torch

from core.settings import get_settings
from pipeline.charset import Charset
from pipeline.nets.crnn import CrnnConfig, CrnnNet
from pipeline.nets.ctpn import CtpnConfig, CtpnNet
from pipeline.nets.orientation import OrientationConfig, OrientationNet
from pipeline.weights import save_model
from training.train_crnn import DEFAULT_CONFIG

UNTRAINED = {"data": "none", "steps": 0, "metrics": {}, "note": "random initialisation, not trained"}


def main() -> None:
    torch.manual_seed(0)
    model_dir = get_settings().model_dir
    only = set(sys.argv[1:])
    if not only or "orientation" in only:
        save_model(
            OrientationNet(OrientationConfig()),
            model_dir,
            "orientation",
            {"architecture": "orientation", "config": OrientationConfig().to_dict(), "training": UNTRAINED},
        )
    if not only or "ctpn" in only:
        save_model(
            CtpnNet(CtpnConfig()),
            model_dir,
            "ctpn",
            {"architecture": "ctpn", "config": CtpnConfig().to_dict(), "training": UNTRAINED},
        )
    for lang in [lang for lang in ("mix", "en") if not only or f"crnn_{lang}" in only]:
        charset = Charset.load(model_dir / f"charset_{lang}.txt")
        cfg = CrnnConfig(num_classes=charset.num_classes, **DEFAULT_CONFIG[lang])
        save_model(
            CrnnNet(cfg),
            model_dir,
            f"crnn_{lang}",
            {"architecture": "crnn", "config": cfg.to_dict(), "charset": f"charset_{lang}.txt", "training": UNTRAINED},
        )


if __name__ == "__main__":
    main()
