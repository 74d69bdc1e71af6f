"""Word boxes from the recognizer's CTC alignment land on the words of a rendered page.

The shipped models read a page typeset with Pillow; every word's true ink box is
measured from the picture, and the boxes in the JSON and in the hOCR are
compared with them: centre offset in line heights and IoU.
"""

from __future__ import annotations

import json
import statistics
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.formats import to_hocr
from pipeline.formats.json_doc import dumps
from pipeline.pipeline import get_pipeline
from pipeline.result import Document
from pipeline.words import split_words

LATIN = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CJK = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

# (text, font, size, gap below in line heights): a heading, a three-line paragraph, Chinese, a mixed line
TEXT = [
    ("Quarterly report", LATIN, 40, 1.2),
    ("The quick brown fox jumps over", LATIN, 26, 0.35),
    ("the lazy dog near the river bank", LATIN, 26, 0.35),
    ("while 2024 totals rose by 7.5%.", LATIN, 26, 1.5),
    ("中文识别测试文本", CJK, 32, 1.2),
    ("Invoice 号码 12345 已付款", CJK, 30, 0.0),
]


def render_page():
    """A white page with the lines of TEXT; returns it, the true words (text, ink box) and the line heights."""
    page = Image.new("L", (1100, 760), 255)
    draw = ImageDraw.Draw(page)
    placed, y = [], 70
    for text, path, size, gap in TEXT:
        font = ImageFont.truetype(path, size)
        draw.text((90, y), text, font=font, fill=0)
        for first, end in split_words(text):
            x = 90 + font.getlength(text[:first])
            placed.append((text[first:end], draw.textbbox((x, y), text[first:end], font=font), size))
        y += round(size * (1.2 + gap))
    ink = np.asarray(page) < 128
    truth = []
    for text, (x0, y0, x1, y1), size in placed:  # each word's ink inside its layout box
        x0, y0 = int(np.floor(x0)), int(np.floor(y0))
        region = ink[y0 : int(np.ceil(y1)), x0 : int(np.ceil(x1))]
        cols, rows = np.flatnonzero(region.any(axis=0)), np.flatnonzero(region.any(axis=1))
        truth.append((text, (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1), size))
    return page.convert("RGB"), truth


def iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def measure(found: list[tuple[str, tuple]], truth) -> dict:
    """Each true word against the found word that overlaps it most."""
    offsets, ious, same_text = [], [], []
    for text, box, size in truth:
        best_text, best_box = max(found, key=lambda f: iou(f[1], box))
        centre = np.hypot((best_box[0] + best_box[2] - box[0] - box[2]) / 2, (best_box[1] + best_box[3] - box[1] - box[3]) / 2)
        offsets.append(centre / (size * 1.2))  # in line heights
        ious.append(iou(best_box, box))
        same_text.append(best_text == text)
    return {
        "median_offset": statistics.median(offsets),
        "iou_over_half": sum(v > 0.5 for v in ious) / len(ious),
        "median_iou": statistics.median(ious),
        "same_text": sum(same_text) / len(same_text),
    }


def json_words(exported: dict) -> list[tuple[str, tuple]]:
    return [
        (w["text"], tuple(w["bbox"]))
        for page in exported["pages"]
        for block in page["blocks"]
        for line in block["lines"]
        for w in line["words"]
    ]


def hocr_words(hocr: str) -> list[tuple[str, tuple]]:
    root = ET.fromstring(hocr.encode("utf-8"))
    out = []
    for element in root.iter():
        if element.get("class") == "ocrx_word":
            bbox = next(p for p in element.get("title").split(";") if p.strip().startswith("bbox"))
            out.append((element.text, tuple(int(v) for v in bbox.split()[1:])))
    return out


@pytest.fixture(scope="module")
def read_page():
    image, truth = render_page()
    page = get_pipeline("mix", "cpu").run_page(image, detect_orientation=False)
    return Document(pages=[page], lang="mix"), truth


def check(figures: dict) -> None:
    assert figures["median_offset"] < 0.15, figures
    assert figures["iou_over_half"] >= 0.9, figures
    assert figures["same_text"] >= 0.8, figures  # the box found is that word's, not a neighbour's


def test_json_word_boxes_line_up_with_the_rendered_words(read_page):
    doc, truth = read_page
    found = json_words(json.loads(dumps(doc)))
    assert abs(len(found) - len(truth)) <= 2
    check(measure(found, truth))


def test_hocr_word_boxes_line_up_with_the_rendered_words(read_page):
    doc, truth = read_page
    found = hocr_words(to_hocr(doc))
    assert [t for t, _ in found] == [t for t, _ in json_words(doc.export())]
    check(measure(found, truth))


def test_blocks_follow_the_layout(read_page):
    doc, _ = read_page
    [page] = doc.pages
    assert [len(block.lines) for block in page.blocks] == [1, 3, 1, 1]  # heading, paragraph, Chinese, mixed
    for block in page.blocks:
        x0, y0, x1, y1 = block.bbox
        assert all(x0 <= ln.bbox[0] and ln.bbox[2] <= x1 and y0 <= ln.bbox[1] and ln.bbox[3] <= y1 for ln in block.lines)
        assert 0 < block.confidence <= 1


def test_word_boxes_follow_a_page_given_sideways():
    """A page scanned turned a quarter clockwise: the boxes come back in the given page's pixels."""
    image, truth = render_page()
    turned = image.rotate(-90, expand=True)  # clockwise: (x, y) -> (H - y, x)
    height = image.height
    turned_truth = [(text, (height - y1, x0, height - y0, x1), size) for text, (x0, y0, x1, y1), size in truth]
    page = get_pipeline("mix", "cpu").run_page(turned)
    assert page.angle == 90
    figures = measure(json_words(Document(pages=[page]).export()), turned_truth)
    check(figures)
