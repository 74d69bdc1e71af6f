"""The shipped models as ONNX graphs for the ONNX runtime, built from the safetensors on first use.

The graphs are not checked in: ``models/`` is rewritten by training, and an ONNX
file beside newer weights would quietly read with the old ones. Instead each
graph lives in the model cache (``OCR_MODEL_CACHE``, default ``var/model-cache``)
under a name made from what it was exported from::

    <cache>/onnx/<name>-<key>.onnx    key = sha256(EXPORT_FORMAT, card bytes, weights sha256)

so new weights (or a new card) have no graph yet and get one, and a stale graph
is never found. A missing graph is exported by ``python -m pipeline.export_onnx``
in a child process (it needs torch and onnx, which the ``pipeline`` extra has):
the process that reads pages stays free of torch even then. ``make setup`` runs
the same command, so ``ocr run`` and the workers normally find the graphs built.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError
from core.settings import get_settings
from pipeline.cards import card_charset, card_config, checked_weights, read_card_bytes
from pipeline.charset import Charset
from pipeline.runtime import OnnxNetwork, inference_threads

# What pipeline.export_onnx writes for a model; bump it when that changes (inputs, outputs, opset, the
# readout around the CRNN), so graphs exported the old way are never used again.
# 2: the class bias folded into the output layer's, the best class's probability gathered; 3: int8 graphs say so; 4: the readout by TopK,
# the int8 recognizer's convolutions calibrated int8 and its output layer one DynamicQuantizeMatMul; 5: that
# output layer dynamically quantised again as in 3 (the fused one read low-resolution pages worse); 6: the
# readout gives each frame's top 4 classes (beam search with the language model)
EXPORT_FORMAT = 6

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxModel:
    name: str
    net: OnnxNetwork
    card: dict
    charset: Charset | None = None  # recognizers only


# Architectures whose graph is int8-quantised when settings.onnx_int8 is on: the recognizer, more than
# half of a page's time. The orientation net stays float (unmeasured). The detector stays float too:
# its convolutions int8 (static QDQ, calibrated on rendered pages; tried 2026-11-30) cut detection from
# 0.064 to 0.048 s of a page and read our validation pages as well (validation PDFs 0.56 -> 0.52% CER
# at 200 dpi, 3.25 -> 3.32% at 100 dpi; FUNSD split 8.60 -> 8.34%), but the benchmark's rendered zh
# pages 2.2 -> 2.4%, over the 0.2 points the runtime may move the benchmark's CER.
INT8_ARCHITECTURES = ("crnn",)


def quantised(card: dict, int8: bool | None) -> bool:
    return (get_settings().onnx_int8 if int8 is None else int8) and card.get("architecture") in INT8_ARCHITECTURES


def graph_path(model_dir: Path, name: str, cache_dir: Path, int8: bool | None = None) -> tuple[dict, Path]:
    """The model's card and the path its ONNX graph has (whether built or not), named by the
    card's bytes, the weights' checked sha256 and whether it is quantised (default: the setting)."""
    card_bytes, card = read_card_bytes(model_dir, name)
    _, weights_sha = checked_weights(model_dir, name, card)
    q = quantised(card, int8)
    key = hashlib.sha256(
        b"%d\n%s\n%s%s" % (EXPORT_FORMAT, weights_sha.encode(), card_bytes, b"\nint8" if q else b"")
    ).hexdigest()[:24]
    return card, Path(cache_dir) / "onnx" / f"{name}-{'int8-' if q else ''}{key}.onnx"


def build_graphs(model_dir: Path, names: list[str], cache_dir: Path, int8: bool | None = None) -> None:
    """Export the named models' graphs into the cache, in a child process (so this one never imports torch)."""
    q = get_settings().onnx_int8 if int8 is None else int8
    cmd = [sys.executable, "-m", "pipeline.export_onnx", "--model-dir", str(model_dir), "--cache-dir", str(cache_dir)]
    cmd += ["--int8" if q else "--no-int8", *names]
    log.info("exporting ONNX graphs of %s from %s (once per weights)", ", ".join(names), model_dir)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-1:])
        raise ModelError(
            f"the ONNX graph of {', '.join(names)} is not built in {cache_dir} and could not be exported "
            f"({tail}); run `python -m pipeline.export_onnx` where the pipeline extra (torch, onnx) is installed, "
            "or use OCR_RUNTIME=torch"
        )


def load_onnx_model(name: str, model_dir: Path, cache_dir: Path, threads: int, int8: bool | None = None) -> OnnxModel:
    """The model ``name`` of ``model_dir`` in an ONNX Runtime session, its graph exported first if needed
    (int8: the recognizer quantised; default settings.onnx_int8)."""
    card, path = graph_path(model_dir, name, cache_dir, int8)
    if not path.is_file():
        build_graphs(model_dir, [name], cache_dir, int8)
        # the weights may have been replaced meanwhile: the graph built is the one for what is there now
        card, path = graph_path(model_dir, name, cache_dir, int8)
        if not path.is_file():
            raise ModelError(f"model {model_dir / name} changed while its ONNX graph was exported; try again")
    card_path = Path(model_dir) / f"{name}.json"
    cfg = card_config(card, card_path)
    charset = card_charset(card, card_path, Path(model_dir), cfg.num_classes) if card["architecture"] == "crnn" else None
    try:
        net = OnnxNetwork(path, cfg, threads)
    except Exception as exc:  # onnxruntime's own exception types; a damaged file in the cache says so here
        raise ModelError(f"ONNX graph {path} cannot be loaded: {exc} (delete it to have it exported again)") from None
    return OnnxModel(name=name, net=net, card=card, charset=charset)


_load = functools.cache(load_onnx_model)


def get_onnx_model(name: str, model_dir: Path | str | None = None) -> OnnxModel:
    """The model ``name`` for the ONNX runtime, loaded on the first call and cached (like models.get_model)."""
    settings = get_settings()
    directory = Path(model_dir) if model_dir is not None else settings.model_dir
    return _load(name, directory.resolve(), settings.model_cache_dir.resolve(), inference_threads())
