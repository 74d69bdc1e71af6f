"""A PDF page's own text layer: real text or not, and its lines and words in page pixels (real poppler)."""

from __future__ import annotations

import io

import numpy as np
import pikepdf
import pytest
from PIL import Image

from core.errors import InvalidOption
from pipeline import loader
from pipeline.formats import to_pdf
from pipeline.result import Document, Line, Page
from pipeline.text_layer import (
    TEXT_SOURCE_LAYER,
    analyse_page,
    bad_char_share,
    check_mode,
    read_text_layer,
)
from tests.unit import pdf_samples

DPI = 100


def our_ocr_output() -> bytes:
    """What this platform wrote before grafting: a page picture under invisible text."""
    picture = Image.new("RGB", (850, 1100), "white")
    picture.info["dpi"] = (DPI, DPI)
    line = Line(
        "Invisible words from an earlier OCR pass", 0.9, [(100, 100), (700, 100), (700, 140), (100, 140)], (100, 100, 700, 140)
    )
    return to_pdf(Document(pages=[Page(1, 850, 1100, 0, 0.9, [line])]), [picture])


def test_real_text_is_used_with_its_words_in_page_pixels():
    read = read_text_layer(pdf_samples.born_digital(["Hello born digital world", "Second line"]), 1, DPI, "auto", page_number=7)
    assert read.decision.use_layer
    page = read.page
    assert (page.page_number, page.source_page, page.text_source) == (7, 1, TEXT_SOURCE_LAYER)
    assert (page.width, page.height) == (850, 1100)  # what poppler renders at 100 dpi
    assert [line.text for line in page.lines] == ["Hello born digital world", "Second line"]
    hello = page.lines[0].words[0]
    assert hello.text == "Hello" and hello.confidence == 1.0
    # Helvetica 24 pt at x = 72 pt, baseline 92 pt from the top: 100 px across, the box around 128 px down.
    assert hello.bbox[0] == pytest.approx(100, abs=0.5)
    assert hello.bbox[1] < 128 - 20 and hello.bbox[3] > 128
    assert page.lines[0].confidence == 1.0 and page.lines[0].char_confidences == [1.0] * len(page.lines[0].text)


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_boxes_cover_the_rendered_text_on_rotated_and_offset_pages(rotate):
    data = pdf_samples.born_digital(["Hello rotated world"], mediabox=(30, 40, 642, 832), rotate=rotate)
    page = read_text_layer(data, 1, DPI, "auto").page
    rendered = np.asarray(loader.load_page(data, 1, DPI).convert("L"))
    assert rendered.shape == (page.height, page.width)
    ys, xs = np.nonzero(rendered < 100)  # the text is black; the grey box is not this dark
    ink = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    (line,) = page.lines
    x0, y0, x1, y1 = line.bbox
    assert x0 - 2 <= ink[0] and y0 - 2 <= ink[1] and ink[2] <= x1 + 2 and ink[3] <= y1 + 2, (line.bbox, ink)
    # ... and not much more than it: the box is the font's height, the ink a little less.
    assert (x1 - x0) * (y1 - y0) <= 2.5 * (ink[2] - ink[0]) * (ink[3] - ink[1])


def test_a_user_unit_changes_nothing_poppler_draws():
    pdf = pikepdf.new()
    text = b"BT /F1 12 Tf 36 300 Td (Hello user unit) Tj ET"
    pdf_samples.add_page(pdf, text, fonts={"F1": pdf_samples.helvetica(pdf)}, mediabox=(0, 0, 306, 396), user_unit=2)
    data = pdf_samples.save(pdf)
    page = read_text_layer(data, 1, DPI, "auto").page
    rendered = np.asarray(loader.load_page(data, 1, DPI).convert("L"))
    assert rendered.shape == (page.height, page.width) == (550, 425)
    ys, xs = np.nonzero(rendered < 100)
    x0, y0, x1, y1 = page.lines[0].bbox
    assert x0 - 2 <= xs.min() and y0 - 2 <= ys.min() and xs.max() < x1 + 2 and ys.max() < y1 + 2


def test_an_invisible_ocr_layer_is_read_again():
    read = read_text_layer(our_ocr_output(), 1, DPI, "auto")
    assert not read.decision.use_layer and read.page is None
    assert "invisible" in read.decision.reason


@pytest.mark.parametrize("sample", [pdf_samples.unmapped_cid, pdf_samples.made_up_names])
def test_glyphs_without_unicode_are_garbage(sample):
    read = read_text_layer(sample(), 1, DPI, "auto")
    assert not read.decision.use_layer
    assert "Unicode" in read.decision.reason


def test_a_scan_with_a_little_real_text_is_ocrd():
    read = read_text_layer(pdf_samples.scan(caption="Scanned 2024-05-01 by the copier"), 1, DPI, "auto")
    assert not read.decision.use_layer and "picture" in read.decision.reason


def test_a_page_without_text_is_ocrd_without_a_note():
    read = read_text_layer(pdf_samples.scan(), 1, DPI, "auto")
    assert not read.decision.use_layer and not read.decision.layer_found


def test_keep_uses_any_layer_and_leaves_a_textless_page_empty():
    kept = read_text_layer(our_ocr_output(), 1, DPI, "keep").page
    assert kept.text == "Invisible words from an earlier OCR pass"
    empty = read_text_layer(pdf_samples.blank(), 1, DPI, "keep").page
    assert empty.lines == [] and empty.text_source == TEXT_SOURCE_LAYER
    assert any("no text layer" in w for w in empty.warnings)


def test_ocr_mode_never_opens_the_layer():
    read = read_text_layer(pdf_samples.born_digital(), 1, DPI, "ocr")
    assert not read.decision.use_layer and read.page is None


def test_content_stream_counts():
    with pikepdf.open(io.BytesIO(our_ocr_output())) as pdf:
        stats = analyse_page(pdf.pages[0])
    assert stats.invisible_glyphs > 0 and stats.visible_glyphs == 0
    assert stats.picture_share == pytest.approx(1.0)
    with pikepdf.open(io.BytesIO(pdf_samples.born_digital())) as pdf:
        stats = analyse_page(pdf.pages[0])
    assert stats.visible_glyphs == len("Hello born digital world") and stats.invisible_glyphs == 0
    assert stats.picture_share == 0 and stats.unmapped_glyphs == 0


def test_bad_characters_and_modes():
    assert bad_char_share("plain text 中文") == 0.0
    assert bad_char_share("\ue000\ue001ab") == 0.5
    assert bad_char_share("\ufffd") == 1.0
    with pytest.raises(InvalidOption, match="pdf_text must be one of auto, ocr, keep"):
        check_mode("sometimes")
