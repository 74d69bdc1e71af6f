"""The grafted searchable PDF, checked with the real tools: qpdf --check, pdftotext -bbox-layout, pdftoppm."""

from __future__ import annotations

import io
import re
import subprocess

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw

from pipeline import loader
from pipeline.formats.graft import GraftPage, graft_pdf_bytes
from pipeline.result import Line, Page
from pipeline.text_layer import TEXT_SOURCE_LAYER, read_text_layer
from tests.unit import pdf_samples
from tests.unit.test_text_layer import our_ocr_output

DPI = 100
LINE = re.compile(r'<line xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">')


def qpdf_check(data: bytes, tmp_path) -> None:
    path = tmp_path / "checked.pdf"
    path.write_bytes(data)
    run = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No syntax or stream encoding errors found" in run.stdout


def pdftotext(data: bytes, tmp_path, *args: str) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True, check=True).stdout


def line_boxes(data: bytes, tmp_path) -> list[tuple[float, ...]]:
    return [tuple(float(v) for v in m.groups()) for m in LINE.finditer(pdftotext(data, tmp_path, "-bbox-layout"))]


def graft(*pages: tuple[bytes, int, Page]) -> bytes:
    """Each (input bytes, source page, result); inputs are named by their position."""
    files = {str(i): data for i, (data, _, _) in enumerate(pages)}
    # Pages of one input share its name, as the worker's do.
    names, seen = [], {}
    for data, _, _ in pages:
        names.append(seen.setdefault(id(data), str(len(seen))))
    files = {seen[id(data)]: data for data, _, _ in pages}
    return graft_pdf_bytes(
        [GraftPage(name, number, result) for name, (_, number, result) in zip(names, pages, strict=True)], files.__getitem__
    )


def as_ocr(page: Page, angle: int = 0) -> Page:
    """A text-layer result re-labelled as if the recognizer had read those lines."""
    page.text_source, page.angle = "ocr", angle
    return page


def ocr_page(width: int, height: int, *lines: tuple[str, tuple[float, float, float, float]]) -> Page:
    return Page(
        1,
        width,
        height,
        0,
        0.99,
        [Line(text, 0.9, [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])], b) for text, b in lines],
    )


# --- PDF inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize(("rotate", "user_unit"), [(0, None), (90, None), (180, None), (270, None), (90, 2)])
def test_the_invisible_text_lands_where_the_original_text_was(rotate, user_unit, tmp_path):
    geometry = {"mediabox": (30, 40, 642, 832), "rotate": rotate, "user_unit": user_unit}
    original = pdf_samples.born_digital(["Hello grafted world", "A second line of text"], **geometry)
    result = as_ocr(read_text_layer(original, 1, DPI, "auto").page, angle=rotate)
    # The same page without its text (a "scan" of it): the graft must put the text back in place.
    textless = pdf_samples.born_digital([], **geometry)
    out = graft((textless, 1, result))
    qpdf_check(out, tmp_path)
    # Order aside: poppler orders the lines of text turned 270 degrees its own way.
    assert sorted(pdftotext(out, tmp_path).split()) == sorted(["Hello", "grafted", "world", "A", "second", "line", "of", "text"])
    expected, found = sorted(line_boxes(original, tmp_path)), sorted(line_boxes(out, tmp_path))
    assert len(found) == len(expected) == 2
    for want, got in zip(expected, found, strict=True):
        assert got == pytest.approx(want, abs=1.0), (want, got)


def test_the_original_page_is_kept_as_it_was(tmp_path):
    source = pdf_samples.scan()
    result = ocr_page(850, 1100, ("Scanned words", (100, 100, 300, 130)))
    out = graft((source, 1, result))
    qpdf_check(out, tmp_path)
    with pikepdf.open(io.BytesIO(source)) as before, pikepdf.open(io.BytesIO(out)) as after:
        old, new = before.pages[0], after.pages[0]
        assert new.mediabox == old.mediabox
        # The picture is the same stream, not decoded or re-encoded.
        assert new.Resources.XObject.Im0.read_raw_bytes() == old.Resources.XObject.Im0.read_raw_bytes()
        # The original drawing is there unchanged, between our q and Q, and the text comes after it.
        streams = [s.read_bytes() for s in new.Contents] if isinstance(new.Contents, pikepdf.Array) else []
        assert len(streams) == 3 and streams[0] == b"q\n" and streams[1] == old.Contents.read_bytes()
        assert streams[2].startswith(b"Q\nq ") and b" 3 Tr " in streams[2]
    assert pdftotext(out, tmp_path).strip() == "Scanned words"
    assert len(out) <= len(source) + 3000  # the layer, its font and nothing else


def test_pages_read_from_their_own_text_leave_the_input_untouched(tmp_path):
    source = pdf_samples.born_digital(["Nothing to add here"])
    layer = read_text_layer(source, 1, DPI, "auto").page
    assert layer.text_source == TEXT_SOURCE_LAYER
    assert graft((source, 1, layer)) == source


def test_an_ocrd_page_that_shows_real_text_gets_no_second_copy(tmp_path):
    source = pdf_samples.born_digital(["Already searchable"])
    result = as_ocr(read_text_layer(source, 1, DPI, "auto").page)  # pdf_text=ocr read it again
    out = graft((source, 1, result))
    assert pdftotext(out, tmp_path).split() == ["Already", "searchable"]
    with pikepdf.open(io.BytesIO(source)) as before, pikepdf.open(io.BytesIO(out)) as after:
        assert after.pages[0].Contents.read_bytes() == before.pages[0].Contents.read_bytes()


def test_an_earlier_invisible_layer_is_replaced_not_doubled(tmp_path):
    source = our_ocr_output()
    out = graft((source, 1, ocr_page(850, 1100, ("Fresh words", (100, 100, 400, 140)))))
    qpdf_check(out, tmp_path)
    assert pdftotext(out, tmp_path).split() == ["Fresh", "words"]
    with pikepdf.open(io.BytesIO(source)) as before, pikepdf.open(io.BytesIO(out)) as after:
        assert after.pages[0].Resources.XObject.Im0.read_raw_bytes() == before.pages[0].Resources.XObject.Im0.read_raw_bytes()


def test_a_page_range_makes_a_document_of_just_those_pages(tmp_path):
    pdf = pikepdf.new()
    for n in range(1, 3):
        pdf_samples.add_page(
            pdf, f"BT /F1 24 Tf 72 700 Td (Page {n} text) Tj ET".encode(), fonts={"F1": pdf_samples.helvetica(pdf)}
        )
    pdf_samples.add_page(pdf, b"0 g 72 600 200 30 re f")  # page 3: a black bar, no text
    source = pdf_samples.save(pdf)
    first = read_text_layer(source, 1, DPI, "auto").page
    third = ocr_page(850, 1100, ("Read again", (100, 500, 260, 530)))  # as if page 3 had been OCR'd
    out = graft((source, 1, first), (source, 3, third))
    qpdf_check(out, tmp_path)
    with pikepdf.open(io.BytesIO(out)) as done:
        assert len(done.pages) == 2
    assert pdftotext(out, tmp_path, "-f", "1", "-l", "1").strip() == "Page 1 text"
    assert pdftotext(out, tmp_path, "-f", "2", "-l", "2").strip() == "Read again"
    # Page 2 stayed behind, and its drawing with it.
    with pikepdf.open(io.BytesIO(out)) as done:
        contents = b"".join(page.Contents.read_bytes() for page in done.pages if not isinstance(page.Contents, pikepdf.Array))
    assert b"Page 2" not in contents


# --- image inputs ---------------------------------------------------------------------------
def picture(mode: str, size=(400, 300)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 200, 120), fill=(200, 30, 30))
    draw.ellipse((220, 100, 380, 280), fill=(20, 90, 200))
    draw.line((0, 299, 399, 0), fill=(0, 0, 0), width=3)
    if mode == "1":
        return image.convert("L").point(lambda v: 255 if v > 200 else 0).convert("1", dither=Image.Dither.NONE)
    return image.convert(mode)


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, dpi=(DPI, DPI), **params)
    return out.getvalue()


def rendered(pdf: bytes) -> np.ndarray:
    return np.asarray(loader.load_page(pdf, 1, DPI).convert("RGB"), dtype=np.int16)


def upright(data: bytes) -> np.ndarray:
    return np.asarray(loader.load_page(data, 1), dtype=np.int16)


def decoded(pdf: bytes) -> np.ndarray:
    """The page picture's own pixels, decoded from its stream (pikepdf), as RGB."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        image = pikepdf.PdfImage(doc.pages[0].Resources.XObject.Im0).as_pil_image()
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def looks_alike(a: np.ndarray, b: np.ndarray) -> bool:
    """Poppler resamples a picture even at its own resolution: edges may move a pixel, nothing more."""
    return a.shape == b.shape and (np.abs(a - b).max(axis=2) > 64).mean() < 0.03


def image_of(pdf: bytes):
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        image = doc.pages[0].Resources.XObject.Im0
        return image.read_raw_bytes(), dict(image.items())


def test_a_jpeg_is_embedded_as_it_is(tmp_path):
    data = encoded(picture("RGB"), "JPEG", quality=62)
    out = graft((data, 1, ocr_page(400, 300, ("A red box", (40, 40, 200, 120)))))
    qpdf_check(out, tmp_path)
    raw, info = image_of(out)
    assert raw == data and info["/Filter"] == pikepdf.Name.DCTDecode
    assert looks_alike(rendered(out), upright(data))
    assert pdftotext(out, tmp_path).strip() == "A red box"


@pytest.mark.parametrize("orientation", [3, 6, 8, 2, 5])
def test_a_turned_jpeg_keeps_its_bytes_and_shows_upright(orientation, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(picture("RGB"), "JPEG", quality=90, exif=exif.tobytes())
    shown = upright(data)  # the loader applies the EXIF orientation; the results' pixels are these
    height, width = shown.shape[:2]
    out = graft((data, 1, ocr_page(width, height, ("Turned", (10, 10, 100, 40)))))
    qpdf_check(out, tmp_path)
    assert image_of(out)[0] == data
    assert looks_alike(rendered(out), shown)


def test_bilevel_pictures_become_group_4_and_stay_exact(tmp_path):
    for image in (picture("1"), picture("1").convert("L")):  # a bilevel scan saved as greyscale, too
        data = encoded(image, "PNG")
        out = graft((data, 1, ocr_page(400, 300)))
        qpdf_check(out, tmp_path)
        _, info = image_of(out)
        assert info["/Filter"] == pikepdf.Name.CCITTFaxDecode and int(info["/BitsPerComponent"]) == 1
        assert (decoded(out) == upright(data)).all()
        assert looks_alike(rendered(out), upright(data))  # black is black: the G4 polarity is right


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P"])
def test_other_pictures_are_lossless(mode, tmp_path):
    data = encoded(picture(mode), "PNG")
    out = graft((data, 1, ocr_page(400, 300, ("Lossless", (40, 40, 200, 120)))))
    qpdf_check(out, tmp_path)
    _, info = image_of(out)
    assert info["/Filter"] == pikepdf.Name.FlateDecode and int(info["/DecodeParms"]["/Predictor"]) == 15
    assert (decoded(out) == upright(data)).all()
    assert looks_alike(rendered(out), upright(data))
    assert len(out) < len(data) + 4000


def test_a_multi_page_tiff_and_a_pdf_make_one_document(tmp_path):
    frames = [picture("1"), picture("L")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_lzw", dpi=(DPI, DPI))
    tiff = buffer.getvalue()
    text_pdf = pdf_samples.born_digital(["From the PDF"])
    out = graft(
        (tiff, 1, ocr_page(400, 300, ("Frame one", (40, 40, 200, 120)))),
        (tiff, 2, ocr_page(400, 300, ("Frame two", (40, 40, 200, 120)))),
        (text_pdf, 1, read_text_layer(text_pdf, 1, DPI, "auto").page),
    )
    qpdf_check(out, tmp_path)
    with pikepdf.open(io.BytesIO(out)) as doc:
        assert len(doc.pages) == 3
        assert [float(v) for v in doc.pages[0].mediabox] == [0, 0, 288, 216]  # 400 x 300 px at 100 dpi
    assert [pdftotext(out, tmp_path, "-f", str(n), "-l", str(n)).strip() for n in (1, 2, 3)] == [
        "Frame one",
        "Frame two",
        "From the PDF",
    ]
