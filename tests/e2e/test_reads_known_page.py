"""The shipped weights read a rendered Chinese-English page (issue 2's end-to-end test, issue 4's guard).

Marked ``trained`` (it checks what the shipped weights read): ``make test``
runs it with everything else, so a bad checkpoint cannot land, and ``make
test-trained`` runs the trained-weight tests alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from bench.metrics import TextLine, box_to_polygon, page_cer

pytestmark = pytest.mark.trained

REPO = Path(__file__).resolve().parents[2]
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
CER_BOUND = 0.05  # clean, 200-DPI rendering: issue 4 asks <= 3% on such pages in the benchmark

LINES = [
    "光学字符识别平台使用说明",
    "The OCR platform reads Chinese and English pages.",
    "上传图片或者PDF文件，系统会返回任务编号。",
    "Invoice No. 2026-1121, total 1,234.50 USD",
    "识别结果包括文本、置信度和每一行的位置。",
    "Workers run orientation, detection and recognition.",
]


def render_page(path: Path) -> list[TextLine]:
    """An A4 page at 200 DPI with known lines; returns their boxes and text."""
    page = Image.new("L", (1654, 2339), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 40)
    truth, y = [], 220
    for text in LINES:
        x0, y0, x1, y1 = draw.textbbox((160, y), text, font=font)
        draw.text((160, y), text, font=font, fill=0)
        truth.append(TextLine(box_to_polygon(x0, y0, x1, y1), text))
        y += 110
    page.save(path)
    return truth


def ocr_run(image: Path, lang: str) -> dict:
    """The first page of ``ocr run``'s JSON for ``image``."""
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", str(image), "--lang", lang, "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout)["pages"][0]


def test_ocr_run_reads_a_rendered_page(tmp_path):
    image = tmp_path / "known.png"
    truth = render_page(image)
    page = ocr_run(image, "mix")
    predicted = [TextLine([tuple(p) for p in line["polygon"]], line["text"]) for line in page["lines"]]
    count = page_cer(truth, predicted)
    cer = count.cer
    assert cer <= CER_BOUND, f"CER {cer:.3f} > {CER_BOUND}: read {[line.text for line in predicted]}"
    assert page["angle"] == 0


def test_lang_en_never_says_a_hanzi(tmp_path):
    """lang=en masks the CJK classes at decoding: the Chinese lines of the page read as Latin
    junk or nothing, never as hanzi or full-width forms, and the English lines still read."""
    image = tmp_path / "known.png"
    render_page(image)
    text = "\n".join(line["text"] for line in ocr_run(image, "en")["lines"])
    assert not [ch for ch in text if ord(ch) >= 0x2E80], text
    assert "Chinese and English" in text
