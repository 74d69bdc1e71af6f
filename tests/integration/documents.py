"""Test documents made on the fly: rendered text pages, PDFs, photos, and broken files of every kind."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import pikepdf
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tests.integration.fault_stage import MARKER_BOX, MARKERS

FONT_CANDIDATES = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
]

SENTENCES = [
    "Invoice 2024 总计 358.00 元",
    "The quick brown fox jumps",
    "光学字符识别测试页面",
    "Hello world 你好世界",
]


def font(size: int = 36) -> ImageFont.FreeTypeFont:
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    raise RuntimeError("No CJK font found; install fonts-noto-cjk or fonts-wqy-zenhei")


def text_page(lines: list[str], *, size=(800, 150), marker: str | None = None, font_size: int = 36) -> Image.Image:
    """Black text on white, one line per entry, with an optional fault marker in the top-left corner.

    800x150 px is a whole number of points at 200 dpi, so a PDF of it rasterises back to the same size.
    """
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    f = font(font_size)
    y = 30
    for line in lines:
        draw.text((50, y), line, font=f, fill="black")
        y += int(font_size * 1.6)
    if marker:
        draw.rectangle(MARKER_BOX, fill=MARKERS[marker])
    return image


def photo_of(image: Image.Image, seed: int = 1) -> bytes:
    """The page as a phone photo might give it: grey paper, slight blur, noise, JPEG."""
    rng = random.Random(seed)
    paper = Image.new("RGB", (image.width + 40, image.height + 40), (205, 200, 190))
    paper.paste(image, (20, 20))
    paper = paper.filter(ImageFilter.GaussianBlur(0.6))
    pixels = paper.load()
    for _ in range(paper.width * paper.height // 40):
        x, y = rng.randrange(paper.width), rng.randrange(paper.height)
        r, g, b = pixels[x, y]
        d = rng.randint(-25, 25)
        pixels[x, y] = (max(0, min(255, r + d)), max(0, min(255, g + d)), max(0, min(255, b + d)))
    buf = io.BytesIO()
    paper.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def pdf(images: list[Image.Image], dpi: int = 200) -> bytes:
    """An image-only PDF (a scan), one page per image, rasterised back at ``dpi`` to the same pixels."""
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return buf.getvalue()


def blank_pdf(pages: int) -> bytes:
    doc = pikepdf.new()
    for _ in range(pages):
        doc.add_blank_page(page_size=(72, 72))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def encrypted_pdf() -> bytes:
    with pikepdf.open(io.BytesIO(pdf([text_page(["secret"])]))) as doc:
        buf = io.BytesIO()
        doc.save(buf, encryption=pikepdf.Encryption(owner="owner-pw", user="user-pw", R=6))
        return buf.getvalue()


def corrupt_pdf() -> bytes:
    """Starts like a PDF, then garbage: no xref, no objects."""
    return b"%PDF-1.7\n" + bytes(random.Random(7).randrange(256) for _ in range(3000))


def truncated_jpeg() -> bytes:
    data = photo_of(text_page(["truncated"]))
    return data[: len(data) // 3]


def not_an_image() -> bytes:
    return b"This is a plain text file that someone named scan.png.\n" * 20


def huge_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny file that claims 30000x30000 pixels: a decompression bomb by its header."""
    data = bytearray(png(Image.new("L", (8, 8), 255)))
    ihdr_start = 8 + 8  # signature, then length+type of the IHDR chunk
    data[ihdr_start : ihdr_start + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr_start + 13])) & 0xFFFFFFFF
    data[ihdr_start + 13 : ihdr_start + 17] = struct.pack(">I", crc)
    return bytes(data)


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Edit distance over reference length, ignoring whitespace."""
    ref = "".join(reference.split())
    hyp = "".join(hypothesis.split())
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i]
        for j, h in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(1, len(ref))
