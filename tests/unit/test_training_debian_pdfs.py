"""Debian package PDFs as layout data: text-layer lines in pixels over the page's ink; reserved packages refused."""

from pathlib import Path

import numpy as np
import pytest

from training.debian_pdfs import TRAIN_PDFS, VALIDATION_PDFS, local_pdf, pdf_page, text_lines

MAINT_GUIDE = "/usr/share/doc/maint-guide-zh-cn/maint-guide.zh-cn.pdf"
pytestmark = pytest.mark.skipif(not Path(MAINT_GUIDE).is_file(), reason="needs the Debian package maint-guide-zh-cn")


def test_reserved_packages_are_refused():
    with pytest.raises(ValueError, match="reserved"):
        local_pdf("/usr/share/doc/debian-reference-common/debian-reference.en.pdf")
    assert not any("debian-reference" in p for p in TRAIN_PDFS + VALIDATION_PDFS)
    assert not set(TRAIN_PDFS) & set(VALIDATION_PDFS)


def test_text_layer_lines_of_a_chinese_page():
    lines = text_lines(Path(MAINT_GUIDE), 10)
    assert len(lines) >= 10
    texts = [t for _, t in lines]
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts)
    for quad, _ in lines:
        assert quad.shape == (4, 2)
        assert quad[0, 0] < quad[1, 0] and quad[0, 1] < quad[3, 1]  # clockwise from top-left


def test_rendered_page_boxes_cover_its_ink():
    dpi = 100
    page = pdf_page(Path(MAINT_GUIDE), 10, dpi)
    assert page is not None
    h, w = page.image.shape
    assert abs(w - 595.28 * dpi / 72) < 2 and abs(h - 841.89 * dpi / 72) < 2  # A4 at 100 DPI
    assert page.quads[..., 0].min() >= 0 and page.quads[..., 0].max() <= w
    assert page.quads[..., 1].min() >= 0 and page.quads[..., 1].max() <= h
    for quad in page.quads:
        x0, y0 = np.floor(quad.min(0)).astype(int)
        x1, y1 = np.ceil(quad.max(0)).astype(int)
        assert page.ink[y0:y1, x0:x1].mean() > 0.02  # every box holds text ink


def test_an_html_validation_document_is_printed_with_its_chinese_text(tmp_path):
    html_doc = tmp_path / "faq.html"
    html_doc.write_text(
        "<html><body>" + "".join(f"<p>第 {i} 章：定义和概览 Debian GNU/Linux</p>" for i in range(8)) + "</body></html>",
        encoding="utf-8",
    )
    pdf = local_pdf(str(html_doc), cache=tmp_path / "cache")
    assert pdf == tmp_path / "cache" / "faq.html.pdf"
    texts = [t.replace(" ", "") for _, t in text_lines(pdf, 1)]
    assert texts[:2] == ["第0章：定义和概览DebianGNU/Linux", "第1章：定义和概览DebianGNU/Linux"]
    assert pdf_page(pdf, 1, 100) is not None
    assert local_pdf(str(html_doc), cache=tmp_path / "cache") == pdf  # printed once
