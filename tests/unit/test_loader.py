import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from core.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    ImageTooLarge,
    InvalidOption,
    InvalidPageRange,
    OcrError,
    UnsupportedFormat,
)
from core.settings import get_settings
from pipeline import loader
from tests.unit.loader_samples import corrupt_pdf, encode, encrypted_pdf, noisy_jpeg, pdf_bytes, png_bomb, truncated_jpeg

REPO = Path(__file__).resolve().parents[2]
RED, WHITE = (255, 0, 0), (255, 255, 255)


def pages_of(data, pages=None, dpi=None):
    return list(loader.iter_pages(data, pages, dpi))


@pytest.fixture
def limits(monkeypatch):
    """Run a test under other size limits (settings are read from the environment once per process)."""

    def apply(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()

    pillow_limit = Image.MAX_IMAGE_PIXELS
    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
    Image.MAX_IMAGE_PIXELS = pillow_limit


# --- sniffing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "pil_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("tiff", "TIFF"), ("bmp", "BMP"), ("webp", "WEBP")]
)
def test_sniff_recognises_each_image_format_by_its_bytes(fmt, pil_format):
    data = encode(Image.new("RGB", (8, 8), RED), pil_format)
    assert loader.sniff_format(data) == fmt
    [(number, image)] = pages_of(data)
    assert number == 1 and image.mode == "RGB" and image.size == (8, 8)


def test_sniff_recognises_pdfs_even_after_leading_junk():
    assert loader.sniff_format(pdf_bytes((100, 100))) == "pdf"
    assert loader.sniff_format(b"\r\n  junk before the header\n" + pdf_bytes((100, 100))) == "pdf"


@pytest.mark.parametrize(
    "data",
    [
        b"hello, I am a text file named scan.png\n",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"BMP is what this plain text talks about",
        b"<html><body>not an image</body></html>",
        "中文文本".encode(),
    ],
)
def test_sniff_rejects_what_is_not_an_image_or_pdf(data):
    with pytest.raises(UnsupportedFormat):
        loader.sniff_format(data)
    with pytest.raises(UnsupportedFormat):
        pages_of(data)
    with pytest.raises(UnsupportedFormat):
        loader.count_pages(data)


def test_empty_input_is_an_empty_file():
    with pytest.raises(EmptyFile):
        loader.sniff_format(b"")
    with pytest.raises(EmptyFile):
        pages_of(b"")


# --- decoding ---------------------------------------------------------------------------------
def test_exif_orientation_is_applied():
    image = Image.new("RGB", (60, 30), WHITE)
    image.paste(RED, (0, 0, 20, 30))  # left third red
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    [(_, upright)] = pages_of(encode(image, "JPEG", exif=exif, quality=95))
    assert upright.size == (30, 60)
    # After a clockwise quarter turn the left edge is on top.
    assert np.allclose(upright.getpixel((15, 5)), RED, atol=40)
    assert np.allclose(upright.getpixel((15, 55)), WHITE, atol=40)


def test_multi_page_tiff_frames_are_pages():
    frames = [
        Image.new("RGB", size, colour) for size, colour in [((40, 30), RED), ((50, 20), (0, 255, 0)), ((60, 10), (0, 0, 255))]
    ]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    assert loader.count_pages(data) == 3
    got = pages_of(data, "2-3")
    assert [(n, im.size, im.getpixel((0, 0))) for n, im in got] == [(2, (50, 20), (0, 255, 0)), (3, (60, 10), (0, 0, 255))]
    assert [n for n, _ in pages_of(data)] == [1, 2, 3]
    assert loader.load_page(data, 3).size == (60, 10)
    with pytest.raises(InvalidPageRange):
        pages_of(data, "4")
    with pytest.raises(InvalidPageRange):
        loader.load_page(data, 0)


def test_other_images_are_one_page():
    data = encode(Image.new("RGB", (10, 10)), "PNG")
    assert loader.count_pages(data) == 1
    with pytest.raises(InvalidPageRange):
        pages_of(data, "2")


def test_sixteen_bit_gray_is_scaled_to_eight_bits():
    full = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))
    [(_, image)] = pages_of(encode(full, "PNG"))
    assert [image.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]
    # 12-bit samples in a 16-bit container use their own range, not 0..65535 (which would be black).
    twelve = Image.fromarray(np.array([[0, 2048, 4095]], dtype=np.uint16))
    [(_, image)] = pages_of(encode(twelve, "PNG"))
    assert [image.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 255))
    rgba.putpixel((2, 0), (255, 0, 0, 128))
    [(_, image)] = pages_of(encode(rgba, "PNG"))
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == WHITE
    assert image.getpixel((1, 0)) == (0, 0, 0)
    assert image.getpixel((2, 0)) == (255, 127, 127)

    gray_alpha = Image.new("LA", (2, 1), (0, 0))
    [(_, image)] = pages_of(encode(gray_alpha, "PNG"))
    assert image.getpixel((0, 0)) == WHITE


def test_palette_with_transparency_is_composited_on_white():
    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    palette.putpixel((1, 0), 1)
    [(_, image)] = pages_of(encode(palette, "PNG", transparency=0))
    assert image.getpixel((0, 0)) == WHITE
    assert image.getpixel((1, 0)) == RED


def test_cmyk_and_bilevel_become_rgb():
    [(_, cmyk)] = pages_of(encode(Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "JPEG"))
    assert cmyk.mode == "RGB" and np.allclose(cmyk.getpixel((4, 4)), WHITE, atol=3)
    [(_, bilevel)] = pages_of(encode(Image.new("1", (8, 8), 1), "TIFF"))
    assert bilevel.mode == "RGB" and bilevel.getpixel((0, 0)) == WHITE


def test_image_dpi_is_kept_for_the_pdf_writer():
    [(_, image)] = pages_of(encode(Image.new("RGB", (8, 8)), "PNG", dpi=(300, 300)))
    assert tuple(round(v) for v in image.info["dpi"]) == (300, 300)


# --- damaged and hostile images ---------------------------------------------------------------
def test_truncated_jpeg_is_corrupt():
    data = truncated_jpeg()
    assert loader.sniff_format(data) == "jpeg" and loader.count_pages(data) == 1  # the header is intact
    with pytest.raises(CorruptFile, match="truncated"):
        pages_of(data)
    with pytest.raises(CorruptFile):
        loader.load_page(data, 1)


@pytest.mark.parametrize("cut", [20, 200, 2000])
def test_cut_images_only_ever_raise_our_errors(cut):
    for data in (
        noisy_jpeg(),
        encode(Image.effect_noise((200, 200), 50), "PNG"),
        encode(Image.effect_noise((200, 200), 50), "WEBP"),
    ):
        with pytest.raises(CorruptFile):
            pages_of(data[:cut])


def test_png_bomb_is_rejected_from_its_header():
    with pytest.raises(ImageTooLarge, match="900 megapixels; the limit is 120 megapixels"):
        pages_of(png_bomb())
    with pytest.raises(ImageTooLarge):
        loader.count_pages(png_bomb())


def test_png_bomb_is_rejected_without_decoding_its_pixels(tmp_path):
    # 30000 x 30000 pixels need 900 MB decoded; the guard must stay far below that.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb())
    code = (
        "import re, sys\n"
        "from pipeline import loader\n"
        "from core.errors import ImageTooLarge\n"
        f"data = open({str(path)!r}, 'rb').read()\n"
        "try:\n"
        "    list(loader.iter_pages(data))\n"
        "except ImageTooLarge:\n"
        # VmHWM is this process's own peak; ru_maxrss would include the forking parent's
        "    print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    peak_kib = int(out.stdout.strip())
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib} KiB: pixels were decoded"


def test_pixel_limits_come_from_settings(limits):
    limits(OCR_MAX_IMAGE_PIXELS=1_000_000, OCR_MAX_PAGE_SIDE=3000)
    # Just over the limit (Pillow would only warn) and far over it (Pillow raises): both ours.
    for size in [(1200, 1000), (2500, 2500)]:
        with pytest.raises(ImageTooLarge):
            pages_of(encode(Image.new("L", size), "PNG"))
    with pytest.raises(ImageTooLarge, match="longest side"):
        pages_of(encode(Image.new("L", (10, 3500)), "PNG"))
    assert pages_of(encode(Image.new("L", (1000, 1000)), "PNG"))[0][1].size == (1000, 1000)


def test_an_oversized_tiff_frame_is_caught_on_its_own(limits):
    limits(OCR_MAX_IMAGE_PIXELS=10_000)
    frames = [Image.new("L", (50, 50)), Image.new("L", (200, 200))]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    assert pages_of(data, "1")[0][1].size == (50, 50)
    with pytest.raises(ImageTooLarge, match="Page 2"):
        pages_of(data, "2")


# --- PDFs -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("dpi", "size"), [(72, (720, 360)), (100, (1000, 500)), (200, (2000, 1000)), (None, (2000, 1000))])
def test_pdf_pages_are_rendered_at_the_requested_dpi(dpi, size):
    [(number, image)] = pages_of(pdf_bytes((720, 360)), dpi=dpi)
    assert number == 1 and image.mode == "RGB" and image.size == size
    assert image.info["dpi"] == (dpi or 200, dpi or 200)


def test_pdf_content_is_drawn_where_it_belongs():
    [(_, image)] = pages_of(pdf_bytes((720, 360), box=True), dpi=100)
    # The square spans 36..108 pt from the left and top, i.e. 50..150 px at 100 DPI.
    assert image.getpixel((100, 100)) == (0, 0, 0)
    assert image.getpixel((40, 100)) == WHITE and image.getpixel((160, 100)) == WHITE


def test_rotated_pdf_page_renders_upright_for_the_reader():
    [(_, image)] = pages_of(pdf_bytes((720, 360), rotate=90), dpi=100)
    assert image.size == (500, 1000)


def test_pdf_page_range_renders_only_those_pages():
    data = pdf_bytes((720, 360), (360, 360), (72, 144))
    assert loader.count_pages(data) == 3
    assert [(n, im.size) for n, im in pages_of(data, "1,3", dpi=100)] == [(1, (1000, 500)), (3, (100, 200))]
    assert loader.load_page(data, 2, dpi=100).size == (500, 500)
    with pytest.raises(InvalidPageRange):
        pages_of(data, "2-4")


def test_encrypted_pdf_is_reported_as_such():
    for call in (loader.count_pages, pages_of, lambda d: loader.load_page(d, 1)):
        with pytest.raises(EncryptedPdf):
            call(encrypted_pdf())


def test_pdf_with_only_an_owner_password_is_read():
    data = pdf_bytes((720, 360), encryption=pikepdf.Encryption(owner="owner-secret", user=""))
    assert pages_of(data, dpi=100)[0][1].size == (1000, 500)


def test_corrupt_pdf_is_corrupt():
    with pytest.raises(CorruptFile):
        loader.count_pages(corrupt_pdf())
    with pytest.raises(CorruptFile):
        pages_of(corrupt_pdf())


def test_truncated_pdf_never_leaks_a_poppler_error():
    data = pdf_bytes((720, 360), box=True)
    for cut in (len(data) // 4, len(data) // 2, len(data) - 40):
        try:
            pages = pages_of(data[:cut], dpi=72)
        except OcrError as exc:
            assert isinstance(exc, (CorruptFile, EmptyFile))
        else:  # qpdf and poppler may repair a cut PDF; then it must still render properly
            assert [im.size for _, im in pages] == [(720, 360)]


def test_pdf_without_pages_is_empty():
    buffer = io.BytesIO()
    pikepdf.new().save(buffer)
    with pytest.raises(EmptyFile):
        loader.count_pages(buffer.getvalue())


def test_absurd_pdf_page_size_is_rejected_before_rendering():
    with pytest.raises(ImageTooLarge, match="40000x40000"):
        pages_of(pdf_bytes((14400, 14400)))  # 200 x 200 inches at 200 DPI
    # The same page is fine at a DPI that keeps it within limits.
    assert loader.count_pages(pdf_bytes((14400, 14400))) == 1


def test_pdf_user_unit_counts_towards_the_page_size():
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(720, 720))
    page.obj.UserUnit = 50  # 10 inches x 50 = 500 inches a side
    buffer = io.BytesIO()
    pdf.save(buffer)
    with pytest.raises(ImageTooLarge):
        pages_of(buffer.getvalue(), dpi=100)


def test_pdf_pixel_limit_uses_the_chosen_dpi(limits):
    limits(OCR_MAX_IMAGE_PIXELS=600_000)
    data = pdf_bytes((720, 360))
    assert pages_of(data, dpi=100)[0][1].size == (1000, 500)
    with pytest.raises(ImageTooLarge, match="at 200 DPI"):
        pages_of(data, dpi=200)


@pytest.mark.parametrize("dpi", [0, -5, 5, 100000, 150.5, True])
def test_unreasonable_dpi_is_an_invalid_option(dpi):
    with pytest.raises(InvalidOption):
        pages_of(pdf_bytes((72, 72)), dpi=dpi)


# --- boundaries -------------------------------------------------------------------------------
def test_loader_and_formats_do_not_import_torch():
    code = (
        "import json, sys\n"
        "import pipeline.loader, pipeline.pages, pipeline.formats, pipeline.formats.pdf, pipeline.cli\n"
        "from pipeline import loader\n"
        "from pipeline.formats import to_hocr, to_json, to_pdf, to_text\n"
        "from pipeline.result import Document, Page\n"
        "from PIL import Image\n"
        "buf = __import__('io').BytesIO(); Image.new('RGB', (20, 20)).save(buf, 'PNG')\n"
        "[(n, image)] = loader.iter_pages(buf.getvalue())\n"
        "doc = Document(pages=[Page(1, 20, 20, 0, 1.0)])\n"
        "to_text(doc); to_json(doc); to_hocr(doc); to_pdf(doc, [image])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# --- memory: bounded in bytes, not only in pixels -----------------------------------------------
def test_decoding_cost_is_counted_in_bytes_before_any_pixel_is_decoded(limits):
    # 2000 x 2000 is far below the pixel limit; as RGBA it still needs 2000 * 2000 * 8 bytes to read.
    data = encode(Image.new("RGBA", (2000, 2000), (0, 0, 0, 255)), "PNG")
    limits(OCR_MAX_DECODED_BYTES=20_000_000)
    with pytest.raises(ImageTooLarge) as refused:
        pages_of(data)
    assert "2000x2000" in refused.value.message and "RGBA" in refused.value.message and "MiB" in refused.value.message
    # The same pixels as grey cost 5 bytes each and pass.
    [(_, image)] = pages_of(encode(Image.new("L", (2000, 2000), 0), "PNG"))
    assert image.size == (2000, 2000)


def test_alpha_and_sixteen_bit_pages_are_converted_in_strips():
    # Taller than several strips, with different content in each, so stitching mistakes would show.
    rows = loader.STRIP_ROWS * 2 + 7
    rgba = Image.new("RGBA", (3, rows), (0, 0, 0, 0))
    for y in range(0, rows, 97):
        rgba.putpixel((1, y), (255, 0, 0, 128))
    [(_, image)] = pages_of(encode(rgba, "PNG"))
    assert image.getpixel((1, 97 * 6)) == (255, 127, 127) and image.getpixel((0, rows - 1)) == WHITE
    ramp = np.tile(np.arange(rows, dtype=np.uint16)[:, None] * 8, (1, 2))
    [(_, gray)] = pages_of(encode(Image.fromarray(ramp), "PNG"))
    bits = int(np.ceil(np.log2(ramp.max() + 1)))
    expected = np.rint(ramp[:, 0].astype(np.float64) * 255 / (2**bits - 1)).astype(np.uint8)
    assert np.array_equal(np.asarray(gray)[:, 0, 0], expected)


def rgba16_png(side: int) -> bytes:
    """A PNG of opaque black with 16-bit RGBA samples (Pillow writes no such files), compressed row by row."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\x00\x00\x00\x00\x00\x00\xff\xff" * side
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PEAK_SCRIPT = """
import resource, sys
from pipeline import loader
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
[(_, image)] = list(loader.iter_pages(data))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / (image.size[0] * image.size[1]))
"""


def test_an_rgba_page_takes_about_its_decoded_size_and_its_rgb_copy(tmp_path):
    """Peak memory per pixel while a 16-bit RGBA PNG is read: about 8 bytes (the decoded frame and the RGB
    result), where converting whole images took 23 (2.8 GB for one 0.9 MB PNG of 10950 x 10950)."""
    path = tmp_path / "rgba16.png"
    path.write_bytes(rgba16_png(3000))
    result = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) < 12, result.stdout


def test_pdf_copies_of_dead_processes_are_removed(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = tmp_path / f"ocr-pdf-{finished.stdout.strip()}-abc", tmp_path / f"ocr-pdf-{os.getpid()}-xyz"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "input.pdf").write_bytes(b"%PDF-1.4")
    other = tmp_path / "ocr-cli-123"
    other.mkdir()
    assert loader.remove_stale_pdf_copies(str(tmp_path)) == 1
    assert not dead.exists() and alive.exists() and other.exists()
