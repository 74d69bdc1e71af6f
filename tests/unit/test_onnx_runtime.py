"""The ONNX runtime (issue 13, item 1): graphs exported from the shipped weights read like torch,
are named by the weights they came from, and the ONNX path never imports torch.

Real weights, a real rendered Debian Reference page and its true lines; the graphs are exported
into a temporary cache from a copy of models/ (training may replace models/ while this runs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.metrics import normalize
from bench.render import rendered_set
from core.errors import InvalidOption, ModelError
from pipeline import runtime
from pipeline.detector import CtpnDetector
from pipeline.models import load_model
from pipeline.onnx_models import graph_path, load_onnx_model
from pipeline.orientation import OrientationClassifier, page_patches
from pipeline.pipeline import Pipeline, to_gray
from pipeline.preprocess import Preprocessor
from pipeline.recognizer import CrnnRecognizer, crop_line
from pipeline.runtime import OnnxNetwork, resolve_runtime
from pipeline.weights import save_model
from training.text_metrics import cer

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("orientation", "ctpn", "crnn_mix")


def copy_models(dest: Path) -> Path:
    """A copy of models/ whose weights match their cards (a copy taken mid-write by training is taken again)."""
    for _ in range(5):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(REPO / "models", dest)
        try:
            for name in SHIPPED:
                graph_path(dest, name, dest / "cache")
            return dest
        except ModelError:
            continue
    raise AssertionError("models/ kept changing while it was copied")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(model dir, cache dir, {name: OnnxModel}): the graphs exported by the child process the runtime starts."""
    base = tmp_path_factory.mktemp("onnx")
    model_dir, cache = copy_models(base / "models"), base / "cache"
    # float graphs: they must compute what torch computes; the int8 recognizer is checked on its own below
    return model_dir, cache, {name: load_onnx_model(name, model_dir, cache, 2, int8=False) for name in SHIPPED}


@pytest.fixture(scope="module")
def page():
    """A rendered Chinese Debian Reference page at 200 DPI with its true lines."""
    return rendered_set("zh", "clean", 1).samples[0]


def stages(model_dir: Path, models: dict):
    """(torch stages, onnx stages) of the same weights: orientation, detector, recognizer."""
    torch_models = {name: load_model(name, "cpu", model_dir) for name in SHIPPED}
    make = {
        "orientation": lambda m: OrientationClassifier(m.net),
        "ctpn": lambda m: CtpnDetector.from_card(m.net, m.card),
        "crnn_mix": lambda m: CrnnRecognizer(m.net, m.charset),
    }
    return (
        {name: make[name](m) for name, m in torch_models.items()},
        {name: make[name](m) for name, m in models.items()},
    )


def test_the_graphs_compute_what_torch_computes_on_a_real_page(built, page):
    model_dir, _, models = built
    torch_stages, onnx_stages = stages(model_dir, models)
    gray = to_gray(page.image())

    patches = page_patches(gray)
    assert len(patches) > 4
    np.testing.assert_allclose(
        onnx_stages["orientation"].classify_patches(patches), torch_stages["orientation"].classify_patches(patches), atol=1e-5
    )

    working = Preprocessor()(gray, 0).working  # an A4 page's working size: not the size it was exported at
    for got, want in zip(onnx_stages["ctpn"].forward(working), torch_stages["ctpn"].forward(working), strict=True):
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 1e-3 * (1 + np.abs(want).max())
    assert len(onnx_stages["ctpn"](working)) == len(torch_stages["ctpn"](working))

    crops = [crop_line(gray, line.polygon) for line in page.lines]
    assert len(crops) > 20
    got, want = onnx_stages["crnn_mix"](crops), torch_stages["crnn_mix"](crops)
    assert [r.text for r in got] == [r.text for r in want]
    assert [r.char_frames for r in got] == [r.char_frames for r in want]
    np.testing.assert_allclose([r.confidence for r in got], [r.confidence for r in want], atol=1e-3)


def test_the_int8_recognizer_reads_real_lines_as_the_float_one_does(built, page):
    model_dir, cache, models = built
    int8 = load_onnx_model("crnn_mix", model_dir, cache, 2, int8=True)
    assert "int8" in int8.net.path.name and int8.net.path != models["crnn_mix"].net.path
    assert int8.net.path.stat().st_size < 0.6 * models["crnn_mix"].net.path.stat().st_size
    # the graph says it is int8, so Pipeline.run_pages reads each page's lines in batches of their own
    assert int8.net.quantised and not models["crnn_mix"].net.quantised
    assert CrnnRecognizer(int8.net, int8.charset).reads_pages_apart
    gray = to_gray(page.image())
    crops = [crop_line(gray, line.polygon) for line in page.lines]
    got = CrnnRecognizer(int8.net, int8.charset)(crops)
    want = CrnnRecognizer(models["crnn_mix"].net, models["crnn_mix"].charset)(crops)
    truth = [normalize(line.text) for line in page.lines]
    # quantisation may flip a character here and there (on this page the int8 graph reads 1.0% CER, the
    # float one 1.2%, 53 of 55 lines the same; confidences within 0.044 with the step-37,993 weights,
    # 54 of 55 within 0.05 and one 0.089 lower with the step-40,020 blend): the page's CER against the
    # truth moves by at most 0.5 points, most lines read the same and nearly all as confidently
    assert abs(cer([normalize(r.text) for r in got], truth) - cer([normalize(r.text) for r in want], truth)) <= 0.005
    assert sum(a.text == b.text for a, b in zip(got, want, strict=True)) >= 0.9 * len(crops)
    apart = np.abs(np.array([r.confidence for r in got]) - np.array([r.confidence for r in want]))
    assert apart.max() < 0.12 and np.mean(apart < 0.05) >= 0.95


def test_a_page_reads_the_same_on_both_runtimes(built, page):
    model_dir, _, models = built
    torch_stages, onnx_stages = stages(model_dir, models)

    def read(s):
        return Pipeline(s["orientation"], Preprocessor(), s["ctpn"], s["crnn_mix"]).run_page(page.image())

    onnx_page, torch_page = read(onnx_stages), read(torch_stages)
    assert [line.text for line in onnx_page.lines] == [line.text for line in torch_page.lines]
    assert len(onnx_page.lines) > 20


def test_the_onnx_path_never_imports_torch(built, page, tmp_path):
    model_dir, cache, _ = built
    image = tmp_path / "page.png"
    page.image().save(image)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OCR_MODEL_DIR": str(model_dir),
        "OCR_MODEL_CACHE": str(cache),
        "OCR_RUNTIME": "onnx",
        "OCR_DATA_DIR": str(tmp_path / "data"),
    }
    # `ocr run` as the command line runs it, and a worker: its before-the-fork import and a page read
    code = (
        "import sys\n"
        "from pipeline import cli\n"
        f"assert cli.main(['run', {str(image)!r}, '--format', 'txt']) == 0\n"
        "from core.settings import get_settings\n"
        "from worker import celery_app\n"
        "from worker.engine import pipeline_for\n"
        "from PIL import Image\n"
        "celery_app._import_runtime_before_the_fork()\n"
        "celery_app._share_cores()\n"
        f"page = pipeline_for(get_settings().pipeline_factory, 'mix').run_page(Image.open({str(image)!r}))\n"
        "print('lines', len(page.lines), file=sys.stderr)\n"
        "print('torch modules:', sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "torch modules: []" in done.stderr
    assert "Debian" in done.stdout  # the page's text was printed


def test_a_graph_is_named_by_the_weights_it_was_exported_from(tmp_path, page):
    model_dir, cache = copy_models(tmp_path / "models"), tmp_path / "cache"
    old = load_onnx_model("orientation", model_dir, cache, 1)
    patches = page_patches(to_gray(page.image()))
    one_view = {"views": (0,)}  # with the 180-degree view too, a bias on class 2 would cancel out
    before = OrientationClassifier(old.net, **one_view).classify_patches(patches)

    # training writes new weights: the graph of the old ones must not be used with them
    net = load_model("orientation", "cpu", model_dir).net
    with_bias = net.head.bias.detach().clone()
    with_bias[2] += 3.0  # the page now reads as turned by 180 degrees far more often
    net.head.bias.data.copy_(with_bias)
    card = json.loads((model_dir / "orientation.json").read_text())
    save_model(net, model_dir, "orientation", card)
    new = load_onnx_model("orientation", model_dir, cache, 1)
    assert new.net.path != old.net.path and old.net.path.is_file()
    after = OrientationClassifier(new.net, **one_view).classify_patches(patches)
    np.testing.assert_allclose(after, OrientationClassifier(net, **one_view).classify_patches(patches), atol=1e-5)
    assert after[2] > before[2] + 0.01

    # weights that do not match their card are refused, as the torch loader refuses them
    (model_dir / "orientation.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelError, match="corrupt"):
        load_onnx_model("orientation", model_dir, cache, 1)


def test_auto_is_onnx_on_the_cpu_and_torch_on_a_gpu():
    # this machine: a CPU-only torch build and no NVIDIA driver
    assert runtime._gpu_usable() is False
    assert resolve_runtime("auto", "auto") == "onnx"
    assert resolve_runtime("auto", "cpu", gpu=False) == "onnx"
    assert resolve_runtime("auto", "auto", gpu=False) == "onnx"
    assert resolve_runtime("torch", "cpu", gpu=False) == "torch"
    assert resolve_runtime("auto", "cuda", gpu=False) == "torch"
    assert resolve_runtime("auto", "auto", gpu=True) == "torch"
    assert resolve_runtime("onnx", "cpu", gpu=True) == "onnx"
    with pytest.raises(InvalidOption, match="CPU only"):
        resolve_runtime("onnx", "cuda")
    with pytest.raises(InvalidOption, match="runtime must be"):
        resolve_runtime("tensorrt", "cpu")


def test_sessions_take_the_inference_threads(built, monkeypatch):
    models = built[2]
    monkeypatch.setattr(runtime, "_threads", runtime._threads)  # put back after the test
    runtime.set_inference_threads(1)  # the worker's share of the cores
    net = OnnxNetwork(models["ctpn"].net.path)
    assert net.session.get_session_options().intra_op_num_threads == 1
