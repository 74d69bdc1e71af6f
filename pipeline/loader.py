"""Input bytes -> upright RGB page images, with every failure turned into a core.errors class.

Formats are recognised by their bytes, never by a file name. Images are
decoded fully here (``.load()``) so that truncation shows up as CorruptFile
now rather than as a strange error deep in the pipeline. Sizes are checked
from headers (image IHDR/SOF/IFD, PDF MediaBox) before any pixel is decoded,
so a decompression bomb costs nothing but a header read. The memory a page
takes while it is decoded and turned into RGB is bounded in bytes as well
(``max_decoded_bytes``): a pixel of RGBA or 16-bit data weighs more than one of
grey, so the pixel limit alone does not bound it. Alpha and 16-bit samples are
converted a strip of rows at a time, so a page needs its decoded frame and
its RGB result, not a handful of full-size intermediates.

This module must stay free of torch: the API imports it to count pages.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import ExifTags, Image

from core.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    ImageTooLarge,
    InvalidOption,
    InvalidPageRange,
    OcrError,
    ResourceExhausted,
    UnsupportedFormat,
)
from core.settings import get_settings
from pipeline.pages import parse_page_range

FORMATS = ("png", "jpeg", "tiff", "bmp", "webp", "pdf")
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "bmp": "BMP", "webp": "WEBP"}
# BITMAPINFOHEADER sizes of the BMP variants Pillow reads; "BM" alone is too weak a signature.
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
_PDF_SIGNATURE_WINDOW = 1024  # the PDF spec tolerates junk before "%PDF-"
MIN_DPI, MAX_DPI = 10, 2400
STRIP_ROWS = 512  # rows converted at a time from RGBA or 16-bit samples
# Bytes per pixel Pillow keeps for a decoded frame of each mode (RGB is stored in 4 bytes, like RGBA).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_RGB_BYTES = 4  # the RGB result
_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


# --- sniffing -------------------------------------------------------------------------------
def sniff_format(data: bytes) -> str:
    """Name the format of ``data`` from its magic bytes: png, jpeg, tiff, bmp, webp or pdf."""
    if not data:
        raise EmptyFile("The file is empty.")
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if b"%PDF-" in data[:_PDF_SIGNATURE_WINDOW]:
        return "pdf"
    raise UnsupportedFormat("The file is not a supported image (PNG, JPEG, TIFF, BMP, WebP) or a PDF.")


# --- public API -----------------------------------------------------------------------------
def count_pages(data: bytes) -> int:
    """Number of pages (PDF pages or TIFF frames; 1 for other images)."""
    fmt = sniff_format(data)
    if fmt == "pdf":
        with _open_pdf(data) as pdf:
            return _pdf_page_count(pdf)
    with _open_image(data, fmt) as im:
        return _frame_count(im, fmt)


def iter_pages(data: bytes, pages: str | None = None, dpi: int | None = None) -> Iterator[tuple[int, Image.Image]]:
    """Yield ``(page_number, RGB image)`` for the pages that ``pages`` selects (all when None).

    Page numbers are 1-based. PDFs are rasterised one page at a time at ``dpi``
    (default ``settings.pdf_dpi``); the image's ``info["dpi"]`` records it.
    Images are used at their own resolution; ``dpi`` does not resample them.
    """
    fmt = sniff_format(data)
    dpi = _check_dpi(dpi)
    if fmt == "pdf":
        yield from _iter_pdf_pages(data, pages, dpi)
    else:
        yield from _iter_image_pages(data, fmt, pages)


def load_page(data: bytes, page_number: int, dpi: int | None = None) -> Image.Image:
    """One page as an upright RGB image (what a worker needs for one page task)."""
    if isinstance(page_number, bool) or not isinstance(page_number, int):
        raise InvalidPageRange(f"Page number must be an integer, got {page_number!r}.")
    pages = iter_pages(data, str(page_number) if page_number >= 1 else "0", dpi)
    try:
        return next(pages)[1]
    finally:
        pages.close()  # removes the PDF's temporary copy now, not whenever the generator is collected


# --- images ---------------------------------------------------------------------------------
def _iter_image_pages(data: bytes, fmt: str, pages: str | None) -> Iterator[tuple[int, Image.Image]]:
    with _open_image(data, fmt) as im:
        numbers = parse_page_range(pages, _frame_count(im, fmt))
        for number in numbers:
            yield number, _decode_frame(im, number)


def _open_image(data: bytes, fmt: str) -> Image.Image:
    """Read only the header; reject oversized images before any pixel is decoded."""
    limit = _apply_pillow_limit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"has {int(found.group(1)) / 1e6:.0f} megapixels" if found else "is too large"
        raise ImageTooLarge(f"The {fmt.upper()} image {size}; the limit is {limit / 1e6:.0f} megapixels.") from None
    except MemoryError:
        raise ResourceExhausted("Out of memory while reading the image header.") from None
    except Exception as exc:  # Pillow raises many types for damaged headers
        raise CorruptFile(f"The {fmt.upper()} image is damaged and cannot be read ({_reason(exc)}).") from None
    try:
        _check_pixels(*im.size, what=f"The {fmt.upper()} image")
    except OcrError:
        im.close()
        raise
    return im


def _apply_pillow_limit() -> int:
    """Keep Pillow's own bomb guard at our limit, as a backstop behind the header checks."""
    limit = get_settings().max_image_pixels
    Image.MAX_IMAGE_PIXELS = limit
    return limit


def _frame_count(im: Image.Image, fmt: str) -> int:
    if fmt != "tiff":
        return 1  # only TIFF is a multi-page format; animated WebP/APNG frames are not pages
    try:
        return int(getattr(im, "n_frames", 1))
    except Exception as exc:
        raise CorruptFile(f"The TIFF's page directory is damaged ({_reason(exc)}).") from None


def _decode_frame(im: Image.Image, number: int) -> Image.Image:
    what = f"Page {number} of the TIFF" if number > 1 or getattr(im, "n_frames", 1) > 1 else "The image"
    try:
        im.seek(number - 1)
    except Exception as exc:
        raise CorruptFile(f"{what} cannot be found in the file ({_reason(exc)}).") from None
    _check_pixels(*im.size, what=what)  # TIFF frames each have their own size
    turn = _exif_turn(im)
    _check_decode_bytes(im, turned=turn is not None, what=what)
    try:
        im.load()
        dpi = im.info.get("dpi")
        upright = im.transpose(turn) if turn is not None else im
        rgb = _to_rgb(upright)
        if rgb is im:
            rgb = im.copy()  # the file's image is closed after this page, and its pixels with it
    except OcrError:
        raise
    except MemoryError:
        raise ResourceExhausted(f"Out of memory while decoding {what.lower()}.") from None
    except Exception as exc:
        raise CorruptFile(f"{what} is damaged or truncated ({_reason(exc)}).") from None
    if dpi:
        rgb.info["dpi"] = dpi
    return rgb


def _exif_turn(im: Image.Image) -> Image.Transpose | None:
    """The transpose that makes the page upright by its EXIF orientation, or None when it already is."""
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return None  # unreadable EXIF: keep the stored orientation rather than lose the page
    return _EXIF_TRANSPOSE.get(orientation)


_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def decode_bytes(mode: str, width: int, height: int, turned: bool = False) -> int:
    """Peak memory of decoding one frame of ``mode`` and turning it into RGB (see _decode_frame, _to_rgb)."""
    stored = _MODE_BYTES.get(mode, 4)
    per_pixel = stored * (2 if turned else 1) + _RGB_BYTES + (1 if mode in _HIGH_DEPTH else 0)
    return width * height * per_pixel


def _check_decode_bytes(im: Image.Image, *, turned: bool, what: str) -> None:
    limit = get_settings().max_decoded_bytes
    need = decode_bytes(im.mode, *im.size, turned=turned)
    if need > limit:
        raise ImageTooLarge(
            f"{what} ({im.size[0]}x{im.size[1]}, pixel mode {im.mode}) would take {need / 2**20:.0f} MiB of memory "
            f"to decode; the limit is {limit / 2**20:.0f} MiB. Save it with 8-bit samples, without alpha, or smaller."
        )


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency is composited on white (paper)."""
    if im.mode in _HIGH_DEPTH:
        im = _to_8bit_gray(im)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode in ("P", "L", "RGB", "1") and "transparency" in im.info):
        return _on_white(im)  # each strip becomes RGBA by the image's own alpha or transparent colour
    if im.mode == "P":
        return im.convert("RGB")
    if im.mode == "RGB":
        return im
    try:
        return im.convert("RGB")
    except ValueError:
        raise UnsupportedFormat(f"Images with pixel mode {im.mode!r} are not supported.") from None


def _strips(im: Image.Image) -> Iterator[tuple[int, int, int, int]]:
    width, height = im.size
    for top in range(0, height, STRIP_ROWS):
        yield 0, top, width, min(height, top + STRIP_ROWS)


def _on_white(im: Image.Image) -> Image.Image:
    """Transparency composited on white paper, a strip at a time."""
    out = Image.new("RGB", im.size, (255, 255, 255))
    for box in _strips(im):
        rgba = im.crop(box).convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out.paste(Image.alpha_composite(paper, rgba).convert("RGB"), box[:2])
    return out


def _to_8bit_gray(im: Image.Image) -> Image.Image:
    """Scale high-bit-depth gray to 0..255 by the bit depth the data actually uses, a strip at a time.

    A 12-bit scan stored in 16-bit samples would come out nearly black if divided by 257.
    """
    low, high = (float(v) for v in im.getextrema())
    if im.mode == "F" and low >= 0.0 and high <= 1.0:
        offset, scale = 0.0, 255.0
    elif low >= 0.0 and high <= 2.0**32:
        bits = min(32, max(8, math.ceil(math.log2(high + 1.0))))
        offset, scale = 0.0, 255.0 / (2.0**bits - 1.0)
    else:
        offset, scale = low, 255.0 / max(high - low, 1e-12)
    out = Image.new("L", im.size)
    for box in _strips(im):
        values = np.asarray(im.crop(box)).astype(np.float64)
        scaled = np.clip(np.rint((values - offset) * scale), 0, 255).astype(np.uint8)
        out.paste(Image.fromarray(scaled, "L"), box[:2])
    return out


def _check_pixels(width: float, height: float, what: str) -> None:
    settings = get_settings()
    if width <= 0 or height <= 0:
        raise CorruptFile(f"{what} has an invalid size {width}x{height}.")
    if max(width, height) > settings.max_page_side:
        raise ImageTooLarge(
            f"{what} would be {width:.0f}x{height:.0f} pixels; the longest side may be at most {settings.max_page_side}."
        )
    if width * height > settings.max_image_pixels:
        raise ImageTooLarge(
            f"{what} would be {width:.0f}x{height:.0f} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {settings.max_image_pixels / 1e6:.0f}."
        )


# --- PDFs -----------------------------------------------------------------------------------
def _iter_pdf_pages(data: bytes, pages: str | None, dpi: int) -> Iterator[tuple[int, Image.Image]]:
    _apply_pillow_limit()  # pdf2image decodes poppler's output with Pillow
    with _open_pdf(data) as pdf:
        numbers = parse_page_range(pages, _pdf_page_count(pdf))
        remove_stale_pdf_copies()
        with tempfile.TemporaryDirectory(prefix=f"{_PDF_TMP_PREFIX}{os.getpid()}-") as tmp:
            path = os.path.join(tmp, "input.pdf")
            with open(path, "wb") as f:
                f.write(data)
            for number in numbers:
                _check_pdf_page_size(pdf, number, dpi)
                yield number, _render_pdf_page(path, number, dpi)


_PDF_TMP_PREFIX = "ocr-pdf-"


def remove_stale_pdf_copies(tmp_dir: str | None = None) -> int:
    """Remove the PDF copies of processes that died before they could (kill -9, out of memory).

    Each copy's directory is named after its process; one whose process is gone is nobody's.
    """
    removed = 0
    base = tmp_dir or tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return 0
    for name in names:
        pid = name[len(_PDF_TMP_PREFIX) :].split("-", 1)[0]
        if not name.startswith(_PDF_TMP_PREFIX) or not pid.isdigit() or _process_alive(int(pid)):
            continue
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process (EPERM): alive
    return True


def _open_pdf(data: bytes):
    import pikepdf

    try:
        return pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise EncryptedPdf("The PDF is password-protected; remove the password and try again.") from None
    except MemoryError:
        raise ResourceExhausted("Out of memory while opening the PDF.") from None
    except Exception as exc:
        raise CorruptFile(f"The PDF is damaged and cannot be read ({_reason(exc)}).") from None


def _pdf_page_count(pdf) -> int:
    try:
        total = len(pdf.pages)
    except Exception as exc:
        raise CorruptFile(f"The PDF's page tree is damaged ({_reason(exc)}).") from None
    if total < 1:
        raise EmptyFile("The PDF has no pages.")
    return total


def pdf_page_pixels(page, dpi: int) -> tuple[int, int]:
    """Pixel size poppler will render ``page`` at ``dpi`` (from its MediaBox, /UserUnit and /Rotate)."""
    box = [float(v) for v in page.mediabox]  # inherited from the page tree when the page lacks one
    unit = float(page.obj.get("/UserUnit", 1))
    width_pt, height_pt = abs(box[2] - box[0]) * unit, abs(box[3] - box[1]) * unit
    if _rotation(page) % 180:
        width_pt, height_pt = height_pt, width_pt
    return math.ceil(width_pt * dpi / 72.0), math.ceil(height_pt * dpi / 72.0)


def _rotation(page) -> int:
    try:
        return int(page.obj.get("/Rotate", 0))
    except Exception:
        return 0  # poppler ignores a malformed /Rotate too


def _check_pdf_page_size(pdf, number: int, dpi: int) -> None:
    try:
        width, height = pdf_page_pixels(pdf.pages[number - 1], dpi)
    except Exception as exc:
        raise CorruptFile(f"Page {number} of the PDF has no usable page size ({_reason(exc)}).") from None
    _check_pixels(width, height, what=f"Page {number} of the PDF at {dpi} DPI")


def _render_pdf_page(path: str, number: int, dpi: int) -> Image.Image:
    import pdf2image
    from pdf2image import exceptions as poppler_errors

    timeout = get_settings().page_soft_time_limit
    try:
        images = pdf2image.convert_from_path(path, dpi=dpi, first_page=number, last_page=number, thread_count=1, timeout=timeout)
        if len(images) != 1:
            raise CorruptFile(f"Page {number} of the PDF could not be rendered.")
        image = images[0]
        image.load()
        image = image.convert("RGB")
    except OcrError:
        raise
    except poppler_errors.PDFInfoNotInstalledError:
        raise OcrError("poppler-utils (pdfinfo, pdftoppm) is not installed; PDFs cannot be rendered.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"Page {number} of the PDF at {dpi} DPI is larger than the pixel limit.") from None
    except poppler_errors.PDFPopplerTimeoutError:
        raise CorruptFile(f"Page {number} of the PDF could not be rendered within {timeout} s.") from None
    except MemoryError:
        raise ResourceExhausted(f"Out of memory while rendering page {number} of the PDF.") from None
    except Exception as exc:
        raise CorruptFile(f"Page {number} of the PDF could not be rendered ({_reason(exc)}).") from None
    image.info["dpi"] = (dpi, dpi)
    return image


# --- helpers --------------------------------------------------------------------------------
def _check_dpi(dpi: int | None) -> int:
    if dpi is None:
        return get_settings().pdf_dpi
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise InvalidOption(f"DPI must be a whole number from {MIN_DPI} to {MAX_DPI}, got {dpi!r}.")
    return dpi


_STREAM_NAME = re.compile(r"(stream )?<_io\.BytesIO object at 0x[0-9a-fA-F]+>:?\s*")


def _reason(exc: BaseException) -> str:
    text = _STREAM_NAME.sub("", " ".join(str(exc).split()))
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


__all__ = ("FORMATS", "count_pages", "iter_pages", "load_page", "pdf_page_pixels", "sniff_format")
