"""``python -m pipeline.export_onnx``: the shipped models as ONNX graphs in the model cache.

    python -m pipeline.export_onnx [--model-dir models/] [--cache-dir var/model-cache] [NAME ...]

Each model (default: the ones the pipeline reads with) is loaded from its
safetensors with torch, exported with dynamic batch and image sizes, and checked
against torch on inputs of other sizes than the export's before it takes its
place under the name pipeline.onnx_models gives it. A graph already there is
left alone, without importing torch, so ``make setup`` runs this every time.
Build time only: the ONNX runtime itself never imports this module.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from core.errors import ModelError
from core.settings import get_settings
from pipeline.onnx_models import graph_path, quantised
from pipeline.runtime import QUANTISED_KEY

SHIPPED = ("orientation", "ctpn", "crnn_mix")  # what pipeline.pipeline.build_pipeline loads
OPSET = 17
# Largest difference allowed between torch and ONNX Runtime outputs, relative to the outputs' range:
# the same float32 arithmetic in another order differs by ~1e-6 of it.
TOLERANCE = 1e-3
# The int8 recognizer against float torch: its frame probabilities moved by up to 0.04 and its best
# classes agreed on every frame of the check inputs; on real lines it read the validation sets within
# 0.04 points of CER of the float graph (tests/unit/test_onnx_runtime.py reads a page with both).
INT8_TOLERANCE = 0.1
INT8_AGREEMENT = 0.98
# What is quantised: the 9,019-class output product, the LSTMs. Not the convolutions (ConvInteger
# ran 2x slower than float Conv on this CPU).
INT8_OPS = ["MatMul", "Gemm", "LSTM"]


def _graph(arch: str, net, cfg):
    """(module to export, example inputs, input names, output names, dynamic axes, check inputs)."""
    import torch

    rng = np.random.default_rng(0)

    def pages(*shape):
        return torch.from_numpy(rng.uniform(-1, 1, size=shape).astype(np.float32))

    if arch == "crnn":
        from pipeline.nets.crnn import CrnnReadout

        bias = torch.zeros(cfg.num_classes)
        masked = bias.clone()
        masked[1::3] = float("-inf")  # a language mask: some classes may not be said
        return (
            CrnnReadout(net).eval(),  # export restores the mode it found, recursively: eval keeps the net in eval
            (pages(2, 1, 32, 96), bias),
            ["x", "class_bias"],
            ["best", "prob"],
            {"x": {0: "batch", 3: "width"}, "best": {0: "frames", 1: "batch"}, "prob": {0: "frames", 1: "batch"}},
            [(pages(3, 1, 32, 212), bias), (pages(1, 1, 32, 40), masked)],
        )
    if arch == "ctpn":
        axes = {0: "batch", 1: "rows", 2: "cols"}
        return (
            net,
            (pages(1, 1, 160, 320),),
            ["x"],
            ["score", "vertical", "side"],
            {"x": {0: "batch", 2: "height", 3: "width"}, "score": axes, "vertical": axes, "side": axes},
            [(pages(1, 1, 208, 480),), (pages(2, 1, 96, 64),)],
        )
    if arch == "orientation":
        return (
            net,
            (pages(4, 1, 96, 96),),
            ["x"],
            ["logits"],
            {"x": {0: "batch"}, "logits": {0: "batch"}},
            [(pages(7, 1, 96, 96),)],
        )
    raise ModelError(f"no ONNX export for architecture {arch!r}")


def _check(module, path: Path, checks, output_names, tolerance: float = TOLERANCE, agreement: float = 0.99) -> float:
    """Run torch and ONNX Runtime on ``checks``; the largest relative difference, or ModelError."""
    import torch

    from pipeline.runtime import OnnxNetwork, TorchNetwork

    session, reference = OnnxNetwork(path, threads=1), TorchNetwork(module)
    worst = 0.0
    for inputs in checks:
        arrays = [t.numpy() for t in inputs]
        got, want = session(*arrays), reference(*arrays)
        for name, a, b in zip(output_names, got, want, strict=True):
            if a.shape != b.shape:
                raise ModelError(f"ONNX output {name} has shape {a.shape}, torch {b.shape}")
            if np.issubdtype(b.dtype, np.integer):
                agree = float((a == b).mean())
                if agree < agreement:  # argmax over near-equal logits may differ; more than that may not
                    raise ModelError(f"ONNX output {name} agrees with torch on {agree:.1%} only")
                continue
            diff = float(np.abs(a - b).max() / (1.0 + np.abs(b).max()))
            if not diff <= tolerance:
                raise ModelError(f"ONNX output {name} differs from torch by {diff:.2e} of its range")
            worst = max(worst, diff)
    del torch
    return worst


def _mark_quantised(path: Path) -> None:
    """Say in the graph's metadata that it is int8 (runtime.OnnxNetwork.quantised reads it)."""
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, QUANTISED_KEY: "int8"})
    onnx.save(model, str(path))


def _quantise(module, tmp: Path, checks, output_names) -> float:
    """``tmp`` replaced by its int8 form (INT8_OPS), checked against torch; the largest difference."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quant = tmp.with_name(tmp.name + ".int8")
    try:
        quantize_dynamic(str(tmp), str(quant), weight_type=QuantType.QInt8, op_types_to_quantize=INT8_OPS)
        _mark_quantised(quant)
        diff = _check(module, quant, checks, output_names, INT8_TOLERANCE, INT8_AGREEMENT)
        quant.replace(tmp)
    finally:
        quant.unlink(missing_ok=True)
    return diff


def export_model(model_dir: Path, name: str, cache_dir: Path, int8: bool | None = None) -> tuple[Path, float | None]:
    """The graph of ``name`` in the cache, exported and checked if it was not there; (path, difference or None)."""
    card, path = graph_path(model_dir, name, cache_dir, int8)
    if path.is_file():
        return path, None
    import torch

    from pipeline.models import load_model

    loaded = load_model(name, "cpu", Path(model_dir))
    arch = loaded.card["architecture"]
    module, example, input_names, output_names, axes, checks = _graph(arch, loaded.net, loaded.net.cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's notes on LSTMs and batch sizes
            torch.onnx.export(
                module,
                example,
                str(tmp),
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        diff = _check(module, tmp, checks, output_names)
        if quantised(card, int8):
            diff = _quantise(module, tmp, checks, output_names)
        # Named by the files as they are now: if training replaced them while this ran, the graph
        # (made from what load_model read) is not theirs, and the caller's next lookup exports again.
        _, current = graph_path(model_dir, name, cache_dir, int8)
        if current != path:
            raise ModelError(f"model {Path(model_dir) / name} changed while it was exported; run again")
        tmp.replace(path)  # atomic: readers see the whole graph or none
    finally:
        tmp.unlink(missing_ok=True)
    return path, diff


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    ap = argparse.ArgumentParser(prog="python -m pipeline.export_onnx", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=list(SHIPPED), metavar="NAME", help=f"models (default: {' '.join(SHIPPED)})")
    ap.add_argument("--model-dir", type=Path, default=settings.model_dir, help="model cards and weights (OCR_MODEL_DIR)")
    ap.add_argument("--cache-dir", type=Path, default=settings.model_cache_dir, help="where the graphs go (OCR_MODEL_CACHE)")
    ap.add_argument(
        "--int8",
        action=argparse.BooleanOptionalAction,
        default=settings.onnx_int8,
        help="quantise the recognizer to int8 (default: OCR_ONNX_INT8, on)",
    )
    args = ap.parse_args(argv)
    try:
        for name in args.names:
            path, diff = export_model(args.model_dir.resolve(), name, args.cache_dir.resolve(), args.int8)
            note = "up to date" if diff is None else f"exported, matches torch within {diff:.1e}"
            print(f"{name}: {path} ({note})")
    except ModelError as exc:
        print(f"export_onnx: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
