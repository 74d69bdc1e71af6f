"""The searchable PDF, checked with the real poppler tools (pdftotext, pdftoppm) and pikepdf."""

import io
import re
import subprocess

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw

from pipeline import loader
from pipeline.formats import to_pdf
from pipeline.formats.pdf import glyphless_truetype
from pipeline.result import Document, Line, Page

WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def line(text, bbox, confidence=0.9):
    x0, y0, x1, y1 = bbox
    return Line(text, confidence, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], bbox)


def page_image(width=1000, height=500, dpi=100) -> Image.Image:
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).rectangle((600, 300, 899, 399), fill=(0, 0, 0))  # something to see
    if dpi:
        image.info["dpi"] = (dpi, dpi)
    return image


def bilingual_document() -> Document:
    return Document(
        pages=[
            Page(1, 1000, 500, 0, 0.99, [line("中文识别", (100, 50, 500, 100)), line("Hello World 2024", (100, 200, 700, 240))]),
            Page(2, 1000, 500, 0, 0.99, [line("第二页 second page", (50, 400, 650, 450))]),
        ],
        lang="mix",
    )


def pdftotext(pdf: bytes, tmp_path, *args: str) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True, check=True).stdout


def words(pdf: bytes, tmp_path, page: int = 1) -> dict[str, tuple[float, float, float, float]]:
    xml = pdftotext(pdf, tmp_path, "-bbox", "-f", str(page), "-l", str(page))
    return {m.group(5): tuple(float(v) for v in m.groups()[:4]) for m in WORD.finditer(xml)}


def close(box, expected, tolerance=1.5) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(box, expected, strict=True))


@pytest.fixture(scope="module")
def bilingual_pdf() -> bytes:
    return to_pdf(bilingual_document(), [page_image(), page_image()])


def test_pdftotext_extracts_chinese_and_english(bilingual_pdf, tmp_path):
    text = pdftotext(bilingual_pdf, tmp_path)
    assert "中文识别" in text and "Hello World 2024" in text and "第二页 second page" in text
    assert pdftotext(bilingual_pdf, tmp_path, "-f", "2", "-l", "2").strip() == "第二页 second page"


def test_text_sits_on_its_boxes(bilingual_pdf, tmp_path):
    # 100 DPI: one pixel is 0.72 pt.
    found = words(bilingual_pdf, tmp_path)
    assert close(found["中文识别"], (72, 36, 360, 72))
    # "Hello World 2024" spans 100..700 px; each character gets the same room (16 half-ems over 600 px).
    assert close(found["Hello"], (72, 144, 72 + 5 * 27, 172.8))
    assert close(found["2024"], (72 + 12 * 27, 144, 504, 172.8))
    # "第二页 second page" is 9000 thousandths of an em over 432 pt; the three hanzi take a third.
    assert close(words(bilingual_pdf, tmp_path, page=2)["第二页"], (36, 288, 36 + 432 / 3, 324))


def test_pages_have_the_images_true_size(bilingual_pdf):
    with pikepdf.open(io.BytesIO(bilingual_pdf)) as pdf:
        assert len(pdf.pages) == 2
        for page in pdf.pages:
            assert [float(v) for v in page.mediabox] == [0, 0, 720, 360]
            image = page.Resources.XObject.Im0
            assert (image.Width, image.Height, image.Filter) == (1000, 500, pikepdf.Name.DCTDecode)
            font = page.Resources.Font.F1
            assert (font.Subtype, font.Encoding) == (pikepdf.Name.Type0, pikepdf.Name("/Identity-H"))
            assert "/FontFile2" in font.DescendantFonts[0].FontDescriptor and "/ToUnicode" in font
        assert pdf.check_pdf_syntax() == []


def test_text_layer_is_invisible_and_the_picture_is_kept(bilingual_pdf):
    [(_, rendered)] = loader.iter_pages(bilingual_pdf, "1", dpi=100)
    assert rendered.size == (1000, 500)
    # Where the text is, the page stays as white as the picture; the drawn rectangle is still black.
    pixels = np.asarray(rendered.convert("L"))
    assert pixels[50:240, 100:700].min() >= 245
    assert pixels[320:380, 620:880].max() <= 10


def test_characters_beyond_the_bmp_and_in_every_script_survive(tmp_path):
    text = "𠀀𠀁 emoji😀 Ünïcödé ½ 中"
    doc = Document(pages=[Page(1, 1000, 500, 0, 1.0, [line(text, (10, 10, 990, 60))])])
    assert pdftotext(to_pdf(doc, [page_image()]), tmp_path).strip() == text


def test_controls_are_dropped_and_tabs_are_spaces(tmp_path):
    doc = Document(pages=[Page(1, 1000, 500, 0, 1.0, [line("a\x00b\tc", (10, 10, 110, 60))])])
    assert pdftotext(to_pdf(doc, [page_image()]), tmp_path).strip() == "ab c"


@pytest.mark.parametrize(
    ("angle", "box", "expected"),
    [
        (0, (100, 100, 400, 150), {"中文": (72, 72, 72 + 216 * 4 / 7, 108), "Hi": (72 + 216 * 5 / 7, 72, 288, 108)}),
        (90, (100, 100, 150, 400), {"中文": (72, 72, 108, 72 + 216 * 4 / 7), "Hi": (72, 72 + 216 * 5 / 7, 108, 288)}),
        (180, (100, 100, 400, 150), {"中文": (288 - 216 * 4 / 7, 72, 288, 108), "Hi": (72, 72, 72 + 216 * 2 / 7, 108)}),
        (270, (100, 100, 150, 400), {"中文": (72, 288 - 216 * 4 / 7, 108, 288), "Hi": (72, 72, 108, 72 + 216 * 2 / 7)}),
    ],
)
def test_text_on_rotated_pages_runs_with_the_content(angle, box, expected, tmp_path):
    doc = Document(pages=[Page(1, 500, 1000, angle, 0.9, [line("中文 Hi", box)])])
    found = words(to_pdf(doc, [page_image(500, 1000)]), tmp_path)
    assert set(found) == set(expected)
    for word, where in expected.items():
        assert close(found[word], where), (word, found[word], where)


def test_page_size_falls_back_to_the_default_dpi_and_boxes_scale_with_the_image(tmp_path):
    # The page was read at 2000 x 1000 px but the picture given is half that size: boxes still land right.
    doc = Document(pages=[Page(1, 2000, 1000, 0, 1.0, [line("Scaled", (200, 100, 1000, 200))])])
    pdf = to_pdf(doc, [page_image(1000, 500, dpi=None)])  # no DPI recorded: settings.pdf_dpi (200)
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        assert [float(v) for v in opened.pages[0].mediabox] == [0, 0, 360, 180]
    assert close(words(pdf, tmp_path)["Scaled"], (36, 18, 180, 36))


def test_pages_without_text_and_grayscale_pictures():
    doc = Document(pages=[Page(1, 100, 50, 0, 1.0, [])])
    gray = Image.new("L", (100, 50), 255)
    with pikepdf.open(io.BytesIO(to_pdf(doc, [gray]))) as pdf:
        assert pdf.pages[0].Resources.XObject.Im0.ColorSpace == pikepdf.Name.DeviceGray
        assert "/Font" not in pdf.pages[0].Resources


def test_one_image_per_page_is_required():
    with pytest.raises(ValueError, match="one image per page"):
        to_pdf(bilingual_document(), [page_image()])


def test_the_embedded_font_is_a_valid_glyphless_truetype():
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(glyphless_truetype()))
    assert font.getGlyphOrder() == [".notdef", "blank"]
    assert all(font["glyf"][name].numberOfContours == 0 for name in font.getGlyphOrder())
    assert font["head"].unitsPerEm == 1000


def test_transparent_pictures_are_laid_on_white_paper():
    doc = Document(pages=[Page(1, 100, 50, 0, 1.0, [])])
    pdf = to_pdf(doc, [Image.new("RGBA", (100, 50), (0, 0, 0, 0))])
    [(_, rendered)] = loader.iter_pages(pdf, dpi=72 * 2)
    assert np.asarray(rendered.convert("L")).min() >= 250
