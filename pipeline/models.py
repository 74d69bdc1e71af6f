"""The networks of the shipped models, loaded once per process and device, on first use.

A model is ``models/<name>.json`` (its card) and the weights the card names;
recognizers also name their charset file. Every failure is a ModelError that
names the file at fault.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.errors import InvalidOption, ModelError
from core.settings import get_settings
from pipeline.cards import card_charset, card_config
from pipeline.charset import Charset
from pipeline.nets.crnn import CrnnConfig, CrnnNet
from pipeline.nets.ctpn import CtpnConfig, CtpnNet
from pipeline.nets.orientation import OrientationConfig, OrientationNet
from pipeline.runtime import inference_threads
from pipeline.weights import load_weights, read_card

ARCHITECTURES = {
    "orientation": (OrientationConfig, OrientationNet),
    "ctpn": (CtpnConfig, CtpnNet),
    "crnn": (CrnnConfig, CrnnNet),
}


@dataclass(frozen=True)
class LoadedModel:
    name: str
    net: nn.Module  # in eval mode, on its device, no gradients
    card: dict
    device: str
    charset: Charset | None = None  # recognizers only


def resolve_device(requested: str | None = None) -> str:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' (None: Settings.device) -> the torch device to use."""
    choice = (requested or get_settings().device).strip().lower()
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return "cpu"
    if choice == "cuda" or choice.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ModelError(
                f"device {choice!r} was requested (OCR_DEVICE) but PyTorch sees no CUDA GPU "
                f"(torch {torch.__version__}); use OCR_DEVICE=cpu or auto"
            )
        return choice
    raise InvalidOption(f"device must be auto, cpu or cuda, not {choice!r}")


@functools.cache
def configure_torch() -> None:
    """Apply the process's inference threads once (Settings.torch_threads; 0 leaves torch's default)."""
    threads = inference_threads()
    if threads > 0:
        torch.set_num_threads(threads)


def load_model(name: str, device: str, model_dir: Path) -> LoadedModel:
    """A fresh copy of the model ``name`` from ``model_dir`` (tools that rewrite models; the
    pipeline uses :func:`get_model`)."""
    configure_torch()
    card_path = model_dir / f"{name}.json"
    card = read_card(model_dir, name)
    cfg = card_config(card, card_path)
    charset = card_charset(card, card_path, model_dir, cfg.num_classes) if card["architecture"] == "crnn" else None
    net = ARCHITECTURES[card["architecture"]][1](cfg)
    load_weights(net, model_dir, name, card)
    net.eval().requires_grad_(False)
    try:
        net.to(device)
    except RuntimeError as exc:
        raise ModelError(f"model {model_dir / name} cannot be moved to {device}: {exc}") from None
    return LoadedModel(name=name, net=net, card=card, device=device, charset=charset)


_load = functools.cache(load_model)


def get_model(name: str, device: str | None = None, model_dir: Path | str | None = None) -> LoadedModel:
    """The model ``name`` on ``device`` (None: Settings.device), loaded on the first call and cached."""
    directory = Path(model_dir) if model_dir is not None else get_settings().model_dir
    return _load(name, resolve_device(device), directory.resolve())
