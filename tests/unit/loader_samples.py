"""Real input files, good and bad, built in memory for the loader and CLI tests."""

from __future__ import annotations

import functools
import io
import struct
import zlib

import pikepdf
from PIL import Image


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit grayscale PNG of ``width`` x ``height`` black pixels in about 100 KB.

    Each row is a filter byte plus width/8 zero bytes; deflate squeezes the
    ~112 MB of rows to almost nothing, which is what makes it a bomb.
    """
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def noisy_jpeg(width: int = 400, height: int = 300) -> bytes:
    """A JPEG whose entropy-coded data is large, so cutting it leaves the header intact."""
    return encode(Image.effect_noise((width, height), 80).convert("RGB"), "JPEG", quality=90)


def truncated_jpeg() -> bytes:
    data = noisy_jpeg()
    return data[: len(data) // 2]


def pdf_bytes(
    *pages: tuple[float, float], rotate: int = 0, encryption: pikepdf.Encryption | None = None, box: bool = False
) -> bytes:
    """A PDF with one page per ``(width_pt, height_pt)``; ``box`` draws a black square at the top-left."""
    pdf = pikepdf.new()
    for width, height in pages:
        page = pdf.add_blank_page(page_size=(width, height))
        if rotate:
            page.Rotate = rotate
        if box:
            # 72 x 72 pt square, 36 pt in from the left and from the top.
            page.Contents = pdf.make_stream(f"0 g 36 {height - 108} 72 72 re f".encode())
    buffer = io.BytesIO()
    pdf.save(buffer, encryption=encryption or False)
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    return pdf_bytes((720, 360), encryption=pikepdf.Encryption(owner="owner-secret", user="user-secret"))


def corrupt_pdf() -> bytes:
    return b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
