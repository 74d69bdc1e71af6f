"""Model cards (``models/<name>.json``) and what they name, read without torch.

Both runtimes start here: the torch loader (pipeline.models) and the ONNX one
(pipeline.onnx_models) take the architecture, config, charset and weights hash
from the card the same way. Every failure is a ModelError naming the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.errors import ModelError
from pipeline.charset import Charset
from pipeline.nets.spec import CrnnConfig, CtpnConfig, OrientationConfig

CONFIGS = {"orientation": OrientationConfig, "ctpn": CtpnConfig, "crnn": CrnnConfig}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_card(model_dir: Path, name: str) -> dict:
    return read_card_bytes(model_dir, name)[1]


def read_card_bytes(model_dir: Path, name: str) -> tuple[bytes, dict]:
    """The card's bytes (what an exported graph is named by, pipeline/onnx_models.py) and its contents."""
    path = Path(model_dir) / f"{name}.json"
    if not path.is_file():
        raise ModelError(f"model card {path} is missing")
    try:
        raw = path.read_bytes()
        return raw, json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model card {path} is not valid JSON: {exc}") from None


def card_config(card: dict, card_path: Path):
    """The card's architecture config (CrnnConfig, CtpnConfig or OrientationConfig)."""
    arch = card.get("architecture")
    if arch not in CONFIGS:
        raise ModelError(f"model card {card_path} names unknown architecture {arch!r}")
    raw = card.get("config")
    if not isinstance(raw, dict):
        raise ModelError(f"model card {card_path} has no config object")
    try:
        return CONFIGS[arch](**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    except TypeError as exc:
        raise ModelError(f"model card {card_path}: config does not fit architecture {arch!r}: {exc}") from None


def card_charset(card: dict, card_path: Path, model_dir: Path, num_classes: int) -> Charset:
    name = card.get("charset")
    if not name:
        raise ModelError(f"model card {card_path} names no charset file")
    path = model_dir / name
    if not path.is_file():
        raise ModelError(f"charset file {path} named by {card_path} is missing")
    try:
        charset = Charset.load(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"charset file {path} cannot be read: {exc}") from None
    if charset.num_classes != num_classes:
        raise ModelError(
            f"charset file {path} has {charset.num_classes} classes with the blank, but {card_path} says {num_classes}"
        )
    return charset


def checked_weights(model_dir: Path, name: str, card: dict) -> tuple[Path, str]:
    """The weights file the card names and its sha256, checked against the card's."""
    path = Path(model_dir) / card.get("weights", f"{name}.safetensors")
    if not path.is_file():
        raise ModelError(f"model weights {path} are missing")
    expected = card.get("sha256")
    if not expected:
        raise ModelError(f"model card for {path} has no sha256")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(f"model weights {path} are corrupt: sha256 {actual[:12]}… does not match the card's {expected[:12]}…")
    return path, actual
