"""The benchmark's reference engines on a rendered page, and the runner's scoring and failure accounting."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from bench.datasets import PageSample, PageSet
from bench.engines import PPOCRV6_MODELS, DownloadRefused, PpOcrV6Engine, RapidOcrEngine, TesseractEngine
from bench.metrics import TextLine, box_to_polygon, page_cer, page_detection
from bench.runner import evaluate_pages, rotated

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
TEXTS = ["The quick brown fox jumps", "over the lazy dog 2024"]


def rendered_page() -> tuple[Image.Image, list[TextLine]]:
    """Two dark lines on white, with their true boxes from the font's own extents."""
    image = Image.new("RGB", (900, 300), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 40)
    lines = []
    for k, text in enumerate(TEXTS):
        x, y = 60, 60 + 100 * k
        draw.text((x, y), text, font=font, fill="black")
        lines.append(TextLine(box_to_polygon(*draw.textbbox((x, y), text, font=font)), text))
    return image, lines


needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None or not FONT.exists(), reason="needs tesseract and DejaVu")


@needs_tesseract
def test_tesseract_reads_a_clean_page_into_lines():
    image, truth = rendered_page()
    pred = TesseractEngine().run(image, "en")
    assert page_cer(truth, pred).cer <= 0.05
    assert page_detection(truth, pred).hmean == 1.0


@needs_tesseract
def test_tesseract_reads_crops_in_one_process_in_order():
    image, truth = rendered_page()
    gray = np.asarray(image.convert("L"))
    first, second = gray[40:130, 40:700], gray[140:230, 40:700]
    texts = TesseractEngine().recognize([second, first, second], "en", "line")
    assert [t.split()[:2] for t in texts] == [["over", "the"], ["The", "quick"], ["over", "the"]]


@needs_tesseract
def test_tesseract_osd_names_a_clockwise_turn():
    engine = TesseractEngine()
    if not engine.orients():
        pytest.skip("no osd traineddata")
    font = ImageFont.truetype(str(FONT), 28)
    page = Image.new("RGB", (1200, 1600), "white")
    draw = ImageDraw.Draw(page)
    for k in range(30):
        draw.text((80, 80 + 48 * k), f"Line {k}: a paragraph of ordinary English words to read.", font=font, fill="black")
    assert engine.orientation(rotated(page, 90)) == 90


@pytest.mark.slow
def test_rapidocr_reads_a_clean_page_into_lines():
    pytest.importorskip("rapidocr_onnxruntime")
    image, truth = rendered_page()
    engine = RapidOcrEngine()
    pred = engine.run(image, "en")
    assert page_cer(truth, pred).cer <= 0.1
    assert page_detection(truth, pred).matched == 2
    gray = np.asarray(image.convert("L"))
    assert engine.recognize([gray[40:130, 40:700]], "en", "line")[0].replace(" ", "").startswith("Thequick")


def _rapidocr_3():
    try:
        from importlib.metadata import version

        import rapidocr  # noqa: F401
    except ImportError:
        return None
    return version("rapidocr")


needs_rapidocr_3 = pytest.mark.skipif(
    _rapidocr_3() is None, reason="PyPI rapidocr (3.x, PP-OCRv6) is not installed: pip install -c requirements.lock -e '.[bench]'"
)


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test: PP-OCRv6 must run from its wheel alone."""
    import socket

    def refuse(self, address, *args):
        raise AssertionError(f"network connection attempted to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@needs_rapidocr_3
def test_ppocrv6_models_are_the_small_ones_inside_the_wheel():
    paths = PpOcrV6Engine.model_paths()
    assert {p.name for p in paths.values()} == set(PPOCRV6_MODELS.values())
    assert all(p.parent == PpOcrV6Engine.model_dir() and p.stat().st_size > 100_000 for p in paths.values())
    assert "PP-OCRv6_det_small.onnx" in PpOcrV6Engine().describe()


@pytest.mark.slow
@needs_rapidocr_3
def test_ppocrv6_reads_a_clean_page_and_crops_offline(offline):
    image, truth = rendered_page()
    engine = PpOcrV6Engine()
    engine.warm_up("en")
    pred = engine.run(image, "en")
    assert page_cer(truth, pred).cer <= 0.05
    assert page_detection(truth, pred).matched == 2
    gray = np.asarray(image.convert("L"))
    # crops after a page: rapidocr 3 remembers use_det/use_cls from the last call unless told each time
    texts = engine.recognize([gray[40:130, 40:700], gray[140:230, 40:700]], "en", "line")
    assert [t.replace(" ", "") for t in texts] == ["Thequickbrownfoxjumps", "overthelazydog2024"]
    assert page_cer(truth, engine.run(image, "en")).cer <= 0.05  # and a page again after crops


@needs_rapidocr_3
def test_ppocrv6_refuses_to_download_anything(offline):
    from rapidocr.utils.download_file import DownloadFile, DownloadFileInput
    from rapidocr.utils.log import logger

    PpOcrV6Engine()._get()
    with pytest.raises(DownloadRefused, match="tried to download"):
        DownloadFile.run(
            DownloadFileInput(file_url="https://example.invalid/x.onnx", save_path="/nonexistent/x.onnx", logger=logger)
        )


class BrokenOnSecondPage:
    """Fault injection: a reference engine that crashes on the second page it sees."""

    name = "broken"
    title = "broken"

    def __init__(self):
        self.inner = TesseractEngine()
        self.calls = 0

    def warm_up(self, lang):
        self.inner.warm_up(lang)

    def run(self, image, lang):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("injected crash")
        return self.inner.run(image, lang)


@needs_tesseract
def test_runner_scores_a_failed_page_as_empty_and_reports_it():
    image, truth = rendered_page()
    sample = PageSample("p", truth, lambda: image)
    page_set = PageSet("two copies", "en", [sample, sample])
    engine = BrokenOnSecondPage()
    score = evaluate_pages([engine], page_set)["broken"]
    assert score.items == 2 and score.failures == 1
    assert score.first_error == "RuntimeError: injected crash"
    true_chars = sum(len(t.text.replace(" ", "")) for t in truth)
    assert score.cer.true_chars == 2 * true_chars
    assert score.cer.distance >= true_chars  # the crashed page counts every true character
    assert (score.detection.matched, score.detection.true, score.detection.predicted) == (2, 4, 2)
