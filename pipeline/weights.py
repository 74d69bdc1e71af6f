"""Model files: safetensors weights beside a JSON model card.

``models/<name>.safetensors`` holds the tensors; ``models/<name>.json`` holds
the architecture, its hyper-parameters, the charset (for recognizers), the
training data and metrics, and the sha256 of the weights file. Loading checks
the hash and the tensor names and shapes strictly, and every failure names the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from core.errors import ModelError
from pipeline.cards import checked_weights, read_card, sha256_of

__all__ = ["load_weights", "read_card", "save_model", "sha256_of"]


def save_model(model: nn.Module, model_dir: Path, name: str, card: dict, dtype=torch.float16) -> Path:
    """Write <name>.safetensors and <name>.json; ``card`` must hold architecture and config."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    weights = model_dir / f"{name}.safetensors"
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        # counters such as BatchNorm's num_batches_tracked stay integers
        tensors[key] = value.to(dtype).contiguous() if value.is_floating_point() else value.contiguous()
    tmp = weights.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(weights)
    card = dict(card, name=name, weights=weights.name, dtype=str(dtype).removeprefix("torch."))
    card["sha256"] = sha256_of(weights)
    (model_dir / f"{name}.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return weights


def load_weights(model: nn.Module, model_dir: Path, name: str, card: dict) -> nn.Module:
    """Fill ``model`` from <name>.safetensors after checking hash, names and shapes."""
    path, _ = checked_weights(model_dir, name, card)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"model weights {path} cannot be read: {exc}") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ModelError(
            f"model weights {path} do not match the architecture: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for key, value in tensors.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ModelError(
                f"model weights {path}: tensor {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}"
            )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=True)
    return model
