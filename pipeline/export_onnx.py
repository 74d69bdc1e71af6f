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
import logging
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
# The int8 recognizer against float torch, on rendered lines that calibration did not see (random pixels
# would be far outside the calibrated ranges): its best classes agreed on 97.9% of the frames in the worst
# batch (blank frames beside a glyph flip first; 99.7% with the fused output layer below, which reads pages
# worse all the same) (tests/unit/test_onnx_runtime.py reads a page with both). Page CER through the whole
# pipeline on training.debian_pdfs' validation PDFs, float torch / this graph: 0.56 / 0.56% at 200 dpi,
# 3.29 / 3.27% at 100 dpi.
INT8_TOLERANCE = 0.02  # mean difference of the frame probabilities
INT8_AGREEMENT = 0.97
# What is quantised, and how: the convolutions with their ReLUs and max-pools statically (QDQ: weights
# per output channel, activations in ranges calibrated on rendered lines), which ONNX Runtime runs as one
# uint8 chain of QLinearConvs from the input to the last convolution (0.29 -> 0.14 s of a page; the dynamic
# ConvInteger ran 2x slower than float Conv on this CPU); the LSTMs and both products of the head
# dynamically (INT8_DYNAMIC_OPS). Not the 9,019-class output layer fused with its bias into one
# DynamicQuantizeMatMul with a scale per class: 80 ms of a page faster, but it read the validation PDFs at
# 100 dpi at 3.73% CER against float's 3.29% (0.56% at 200 dpi either way), where the int8 convolutions
# alone cost nothing (3.27%; calibrating on small lines too, or keeping the first blocks float, did not help
# the fused layer).
INT8_STATIC_OPS = ["Conv", "Relu", "MaxPool"]
INT8_DYNAMIC_OPS = ["MatMul", "Gemm", "LSTM"]
CALIBRATION_LINES = 192  # rendered in ~6 s, a batch of each width the recognizer makes
CALIBRATION_SEED, CHECK_SEED = 0, 1


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


def _check(
    module, path: Path, checks, output_names, tolerance: float = TOLERANCE, agreement: float = 0.99, mean: bool = False
) -> float:
    """Run torch and ONNX Runtime on ``checks``; the largest relative difference, or ModelError.

    ``mean``: the mean difference of each output instead of its largest (an int8 graph's frame near a
    tie between two classes moves much more than the rest)."""
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
                if a.ndim == 3:  # the recognizer's top K: below the best class, near-ties may swap places
                    a, b = a[..., 0], b[..., 0]
                agree = float((a == b).mean())
                if agree < agreement:  # argmax over near-equal logits may differ; more than that may not
                    raise ModelError(f"ONNX output {name} agrees with torch on {agree:.1%} only")
                continue
            diff = float(np.abs(a - b).mean() if mean else np.abs(a - b).max() / (1.0 + np.abs(b).max()))
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


def _rendered_lines(charset, count: int, seed: int) -> list[np.ndarray]:
    """``count`` lines of random text of the charset (hanzi, Latin words, digits, punctuation), rendered in
    the base fonts at 14-40 px (a third blurred and noisy, as scans are), prepared and batched by width as
    the recognizer batches a page's lines: (B, 32, W) uint8 each. Never the Debian Reference pages the
    benchmark reads."""
    import random

    import cv2

    from pipeline.line_image import pad_batch, prepare_line
    from pipeline.recognizer import batches_by_width
    from training.fonts import cjk_fonts, latin_fonts
    from training.render import render_line

    rng = random.Random(seed)
    hanzi = [c for c in charset.chars if "\u4e00" <= c <= "\u9fff"]
    latin = [c for c in charset.chars if c.isascii() and c.isalnum()]
    marks = [c for c in charset.chars if c.isascii() and not c.isalnum() and not c.isspace()]
    cjk, other = cjk_fonts(), latin_fonts()
    if not cjk and not other:
        raise ModelError("no fonts to render the int8 recognizer's calibration lines (scripts/install_system_deps.sh)")
    lines = []
    while len(lines) < count:
        if hanzi and cjk and rng.random() < 0.5:
            text = "".join(
                rng.choice(hanzi) if rng.random() > 0.1 else rng.choice(marks + latin) for _ in range(rng.randint(2, 30))
            )
            fonts = cjk
        else:
            words = ("".join(rng.choice(latin) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 10)))
            text, fonts = " ".join(w + (rng.choice(marks) if rng.random() < 0.2 else "") for w in words), other + cjk
        crop = render_line(text, rng.choice([f for f in fonts if f.covers(text)] or fonts), rng.randint(14, 40), rng)
        if rng.random() < 0.3:
            crop = cv2.GaussianBlur(crop, (3, 3), rng.uniform(0.3, 1.2))
            noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(2, 12), crop.shape)
            crop = np.clip(crop + noise, 0, 255).astype(np.uint8)
        lines.append(prepare_line(crop))
    return [pad_batch([lines[i] for i in batch])[0] for batch in batches_by_width([line.shape[1] for line in lines])]


def _quantise(module, tmp: Path, charset, output_names) -> float:
    """``tmp`` (the recognizer's float graph) replaced by its int8 form (see INT8_STATIC_OPS), checked
    against torch on rendered lines; the mean difference of its probabilities."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

    from pipeline.nets.spec import input_array

    num_classes = charset.num_classes
    open_bias = np.zeros(num_classes, np.float32)

    class Lines(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(_rendered_lines(charset, CALIBRATION_LINES, CALIBRATION_SEED))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"x": input_array(batch), "class_bias": open_bias}

    static, quant = (tmp.with_name(f"{tmp.name}.{step}") for step in ("static", "int8"))
    root = logging.getLogger()
    level = root.level
    # the quantizers' advice on the root logger (pre-process the graph: torch's export has folded the batch
    # norms already; "is it quantised already?": the second pass meets the first one's QDQ nodes, as meant)
    root.setLevel(logging.ERROR)
    try:
        quantize_static(
            str(tmp),
            str(static),
            Lines(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=INT8_STATIC_OPS,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        quantize_dynamic(str(static), str(quant), weight_type=QuantType.QInt8, op_types_to_quantize=INT8_DYNAMIC_OPS)
        _mark_quantised(quant)
        import torch

        masked = np.where(np.asarray(charset.class_mask("latin")), 0.0, -np.inf).astype(np.float32)
        checks = [
            (torch.from_numpy(input_array(batch)), torch.from_numpy(masked if k % 3 == 2 else open_bias))
            for k, batch in enumerate(_rendered_lines(charset, CALIBRATION_LINES // 2, CHECK_SEED))
        ]
        diff = _check(module, quant, checks, output_names, INT8_TOLERANCE, INT8_AGREEMENT, mean=True)
        quant.replace(tmp)
    finally:
        root.setLevel(level)
        for path in (static, quant):
            path.unlink(missing_ok=True)
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
            diff = _quantise(module, tmp, loaded.charset, output_names)
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
