"""Searchable PDF by grafting: the input's own pages, with an invisible text layer added.

A PDF input keeps its pages as they were -- vector text, fonts, pictures,
links, outline -- and each OCR'd page gets one more content stream: the
invisible text of pipeline/formats/pdf.py (a glyph-less Type0 font, render
mode 3), placed through a matrix that maps the page pixels the pipeline saw
onto the page's user space (MediaBox offset, /Rotate, /UserUnit). Pages whose
result came from their own text layer get nothing added: their text is
there already. An earlier invisible layer on an OCR'd page is dropped, so the
text is not found twice.

An image input becomes one page per frame, its picture embedded without
decoding where the format allows it (a JPEG's own bytes) and losslessly
otherwise: bilevel pictures as CCITT Group 4, the rest as Flate with PNG
predictors (the PNG encoder's own rows).

The output is built one input file at a time into a part on disk, and the
parts are joined at the end; pikepdf reads a part's streams from its file
while it writes, so a big job holds at most one input's compressed pictures
in memory (a PDF input's not even those), never a decoded page beyond the
one being encoded.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby

from PIL import Image

from pipeline.formats.pdf import _CidMap, _image_dpi, _line_ops, _make_font, _num, _round
from pipeline.result import Page
from pipeline.text_layer import (
    TEXT_SOURCE_LAYER,
    analyse_page,
    display_size,
    media_box,
    page_rotation,
    shows_real_text,
    strip_invisible_text,
)


@dataclass(frozen=True)
class GraftPage:
    """One page of the output: page (or frame) ``source_page`` of input ``file``, read as ``result``."""

    file: str  # names the input for ``read_file``; consecutive pages of one input share it
    source_page: int  # 1-based
    result: Page


def graft_pdf(pages: Sequence[GraftPage], read_file: Callable[[str], bytes], out_path: str) -> None:
    """Write the searchable PDF of ``pages`` to ``out_path``; ``read_file(file)`` gives an input's bytes."""
    import pikepdf

    from pipeline.loader import sniff_format

    if not pages:
        raise ValueError("a searchable PDF needs at least one page")
    with tempfile.TemporaryDirectory(prefix="ocr-graft-") as tmp:
        parts = []
        for index, (file, group) in enumerate(groupby(pages, key=lambda p: p.file)):
            group = list(group)
            part = os.path.join(tmp, f"part{index}.pdf")
            data = read_file(file)
            if sniff_format(data) == "pdf":
                source = os.path.join(tmp, f"source{index}.pdf")
                with open(source, "wb") as f:
                    f.write(data)
                del data
                _pdf_part(source, group, part)
                os.remove(source)
            else:
                _image_part(data, group, part)
            parts.append(part)
        if len(parts) == 1:
            shutil.move(parts[0], out_path)  # one input: the output is its part, document structure and all
            return
        out = pikepdf.new()
        opened = [pikepdf.open(part) for part in parts]
        try:
            for part in opened:
                out.pages.extend(part.pages)
            _save(out, out_path)
        finally:
            for part in opened:
                part.close()


def graft_pdf_bytes(pages: Sequence[GraftPage], read_file: Callable[[str], bytes]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ocr-graft-out-") as tmp:
        path = os.path.join(tmp, "out.pdf")
        graft_pdf(pages, read_file, path)
        with open(path, "rb") as f:
            return f.read()


def _save(pdf, path: str, *, keep_layout: bool = False) -> None:
    """Streams that are compressed already (the input's, our pictures) are copied as they are.

    ``keep_layout``: the input's own object streams stay as they were (qpdf regrouping them makes
    a typical PDF some 3% larger); a document of our own making gets object streams.
    """
    import pikepdf

    mode = pikepdf.ObjectStreamMode.preserve if keep_layout else pikepdf.ObjectStreamMode.generate
    pdf.save(path, compress_streams=True, object_stream_mode=mode)


def _texts(group: Sequence[GraftPage]) -> list[str]:
    return [line.text for p in group if _needs_layer(p.result) for line in p.result.lines]


def _needs_layer(result: Page) -> bool:
    return result.text_source != TEXT_SOURCE_LAYER


# --- PDF inputs -------------------------------------------------------------------------------
def _pdf_part(source: str, group: list[GraftPage], part: str) -> None:
    import pikepdf

    with pikepdf.open(source) as original:
        numbers = [p.source_page for p in group]
        whole = numbers == list(range(1, len(original.pages) + 1))
        if whole and not any(_needs_layer(p.result) for p in group):
            shutil.copyfile(source, part)  # every page read from its own text: the input is the answer, byte for byte
            return
        if whole:
            target = original  # every page, in order: keep the document itself (outline, links, metadata)
        else:
            # A page range: a new document of copies of those pages, so the pages left out (and
            # whatever only they use) are not carried along.
            target = pikepdf.new()
            for number in numbers:
                target.pages.append(original.pages[number - 1])
        cids = _CidMap(_texts(group))
        font = _make_font(target, cids) if cids else None
        for graft, page in zip(group, target.pages, strict=True):
            # An OCR'd page that shows real text of its own (pdf_text=ocr on a born-digital page) stays as it is.
            if _needs_layer(graft.result) and not shows_real_text(analyse_page(page)):
                strip_invisible_text(target, page)
                if font is not None:
                    _add_text_layer(target, page, graft.result, font, cids)
        _save(target, part, keep_layout=whole)
        if target is not original:
            target.close()


def page_matrix(page) -> tuple[float, float, float, float, float, float]:
    """The matrix from displayed-page space (y up, origin bottom-left, user units) to the page's user space."""
    x0, y0, x1, y1 = media_box(page)
    rotation = page_rotation(page)
    if rotation == 90:
        return (0.0, 1.0, -1.0, 0.0, x1, y0)
    if rotation == 180:
        return (-1.0, 0.0, 0.0, -1.0, x1, y1)
    if rotation == 270:
        return (0.0, -1.0, 1.0, 0.0, x0, y1)
    return (1.0, 0.0, 0.0, 1.0, x0, y0)


def _add_text_layer(pdf, page, result: Page, font, cids: _CidMap) -> None:
    import pikepdf

    lines = result.lines
    if not lines:
        return
    width, height = display_size(page)
    # The page's pixels cover the displayed MediaBox; in user units, so /UserUnit needs nothing more.
    scale_x, scale_y = width / max(result.width, 1), height / max(result.height, 1)
    name = _font_name(page, font)
    ops = [_line_ops(line, result, cids, scale_x, scale_y, height, font=name) for line in lines]
    ops = [op for op in ops if op]
    if not ops:
        return
    matrix = " ".join(_num(v) for v in page_matrix(page))
    # q..Q around the original content: whatever state it leaves, the layer starts from user space.
    page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
    layer = f"Q\nq {matrix} cm\n" + "\n".join(ops) + "\nQ\n"
    page.contents_add(pikepdf.Stream(pdf, layer.encode("ascii")), prepend=False)


def _font_name(page, font) -> str:
    """Add ``font`` to the page's resources under a name of its own; the page keeps its own /Resources.

    Resources may be inherited from the page tree: a copy of them goes on the page first, or
    adding ours would hide the inherited ones.
    """
    import pikepdf

    if "/Resources" not in page.obj:
        node, inherited = page.obj.get("/Parent"), None
        while node is not None and inherited is None:
            inherited = node.get("/Resources")
            node = node.get("/Parent")
        page.obj.Resources = (
            pikepdf.Dictionary({k: v for k, v in inherited.items()}) if inherited is not None else pikepdf.Dictionary()
        )
    return str(page.add_resource(font, pikepdf.Name.Font, prefix="OCR"))


# --- image inputs ----------------------------------------------------------------------------
def _image_part(data: bytes, group: list[GraftPage], part: str) -> None:
    import pikepdf

    from pipeline.loader import _exif_turn, _open_image, sniff_format

    fmt = sniff_format(data)
    pdf = pikepdf.new()
    cids = _CidMap(_texts(group))
    font = _make_font(pdf, cids) if cids else None
    with _open_image(data, fmt) as im:
        for graft in group:
            im.seek(graft.source_page - 1)
            turn = _exif_turn(im)
            if fmt == "jpeg" and im.mode in _JPEG_SPACES:
                xobject = _jpeg_passthrough(pdf, im, data)
                stored = im.size
            else:
                im.load()
                upright = im.transpose(turn) if turn is not None else im
                xobject = _lossless_xobject(pdf, upright)
                stored, turn = upright.size, None
            dpi_x, dpi_y = _whole_dpi(im)
            upright_size = (stored[1], stored[0]) if turn in _SWAPS else stored
            width_pt, height_pt = upright_size[0] * 72.0 / dpi_x, upright_size[1] * 72.0 / dpi_y
            _image_page(pdf, graft.result, xobject, _placement(turn, width_pt, height_pt), width_pt, height_pt, font, cids)
    _save(pdf, part)
    pdf.close()


def _whole_dpi(im: Image.Image) -> tuple[float, float]:
    """The picture's resolution, a whole number when it is one stored in pixels per metre.

    PNG keeps 100 dpi as 3937 pixels per metre, which reads back as 99.9998 dpi: the page would
    be a hair wider than 400 px at 100 dpi, and poppler renders it a pixel wider.
    """
    return tuple(float(round(v)) if abs(v - round(v)) < 0.01 else v for v in _image_dpi(im))


def _image_page(pdf, result: Page, xobject, placement, width_pt, height_pt, font, cids) -> None:
    import pikepdf
    from pikepdf import Dictionary, Name

    matrix = " ".join(_num(v) for v in placement)
    content = [f"q {matrix} cm /Im0 Do Q"]
    resources = Dictionary(XObject=Dictionary(Im0=xobject))
    if font is not None and result.lines:
        scale_x, scale_y = width_pt / max(result.width, 1), height_pt / max(result.height, 1)
        content += [_line_ops(line, result, cids, scale_x, scale_y, height_pt) for line in result.lines]
        resources.Font = Dictionary(F1=font)
    page = Dictionary(
        Type=Name.Page,
        MediaBox=[0, 0, _round(width_pt), _round(height_pt)],
        Resources=resources,
        Contents=pikepdf.Stream(pdf, "\n".join(op for op in content if op).encode("ascii")),
    )
    pdf.pages.append(pikepdf.Page(pdf.make_indirect(page)))


_SWAPS = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270, Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE)
# Where a stored pixel at (s, t) -- fractions of width and height, y down -- is after the transpose.
_TRANSPOSED = {
    None: lambda s, t: (s, t),
    Image.Transpose.FLIP_LEFT_RIGHT: lambda s, t: (1 - s, t),
    Image.Transpose.FLIP_TOP_BOTTOM: lambda s, t: (s, 1 - t),
    Image.Transpose.ROTATE_90: lambda s, t: (t, 1 - s),  # Pillow's ROTATE_90 turns anticlockwise
    Image.Transpose.ROTATE_180: lambda s, t: (1 - s, 1 - t),
    Image.Transpose.ROTATE_270: lambda s, t: (1 - t, s),
    Image.Transpose.TRANSPOSE: lambda s, t: (t, s),
    Image.Transpose.TRANSVERSE: lambda s, t: (1 - t, 1 - s),
}


def _placement(turn, width_pt: float, height_pt: float) -> tuple[float, ...]:
    """The image matrix that draws the stored picture upright on a width_pt x height_pt page.

    PDF draws an image into the unit square with its first row at the top: unit point (a, b)
    is stored pixel (s, t) = (a, 1 - b). Following it through the EXIF transpose to the page
    gives an affine map, read off at three corners.
    """
    move = _TRANSPOSED[turn]

    def to_page(a: float, b: float) -> tuple[float, float]:
        s, t = move(a, 1.0 - b)
        return s * width_pt, (1.0 - t) * height_pt

    (ex, ey), (ax, ay), (cx, cy) = to_page(0, 0), to_page(1, 0), to_page(0, 1)
    return (ax - ex, ay - ey, cx - ex, cy - ey, ex, ey)


_JPEG_SPACES = {"L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}


def image_stream(pdf, data: bytes, size: tuple[int, int], space, bits: int, filter_name: str, **extra):
    """An image XObject of ``data``, encoded already with ``filter_name``."""
    import pikepdf
    from pikepdf import Name

    width, height = size
    return pikepdf.Stream(
        pdf,
        data,
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=width,
        Height=height,
        ColorSpace=space,
        BitsPerComponent=bits,
        Filter=Name(filter_name),
        **extra,
    )


def _jpeg_passthrough(pdf, im: Image.Image, data: bytes):
    """The JPEG's own bytes as a DCTDecode image: nothing decoded, nothing lost."""
    from pikepdf import Name

    stream = image_stream(pdf, data, im.size, Name(_JPEG_SPACES[im.mode]), 8, "/DCTDecode")
    if im.mode == "CMYK" and "adobe" in im.info:
        stream.Decode = [1, 0] * 4  # Adobe's CMYK JPEGs store inverted samples
    return stream


def _lossless_xobject(pdf, im: Image.Image):
    if im.mode == "1":
        return _g4_xobject(pdf, im)
    if im.mode == "L" and _is_bilevel(im):
        return _g4_xobject(pdf, im.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE))
    return _flate_xobject(pdf, _eight_bit(im))


def _is_bilevel(im: Image.Image) -> bool:
    colors = im.getcolors(2)
    return colors is not None and {value for _, value in colors} <= {0, 255}


def _eight_bit(im: Image.Image) -> Image.Image:
    """L, RGB or CMYK with 8-bit samples; transparency is paper, as the loader reads it."""
    from pipeline.loader import _HIGH_DEPTH, _on_white, _to_8bit_gray

    if im.mode in _HIGH_DEPTH:
        return _to_8bit_gray(im)
    if "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info:
        gray = im.mode in ("LA", "La") or (im.mode == "L")
        rgb = _on_white(im)
        return rgb.convert("L") if gray else rgb
    if im.mode == "P" and im.palette is not None and im.palette.mode == "RGB":
        return im  # kept as an indexed picture: a byte a pixel, as in the file
    if im.mode == "P":
        rgb = im.convert("RGB")
        return rgb.convert("L") if _is_gray(rgb) else rgb
    if im.mode in ("L", "RGB", "CMYK"):
        return im
    return im.convert("RGB")


def _is_gray(rgb: Image.Image) -> bool:
    r, g, b = rgb.split()
    return r.tobytes() == g.tobytes() == b.tobytes()


def _g4_xobject(pdf, im: Image.Image):
    """CCITT Group 4, as libtiff (through Pillow) writes it in one strip."""
    from pikepdf import Dictionary, Name

    buffer = io.BytesIO()
    im.save(buffer, "TIFF", compression="group4", strip_size=2**31 - 1)
    with Image.open(buffer) as tiff:
        (offset,), (length,) = tiff.tag_v2[273], tiff.tag_v2[279]
        photometric = tiff.tag_v2.get(262, 0)
    data = buffer.getvalue()[offset : offset + length]
    return image_stream(
        pdf,
        data,
        im.size,
        Name.DeviceGray,
        1,
        "/CCITTFaxDecode",
        # libtiff codes 0-bits as "white" runs; with photometric 1 (min is black, as Pillow writes
        # bilevel images) those are the black pixels, so the PDF decoder must turn white codes black.
        DecodeParms=Dictionary(K=-1, Columns=im.width, Rows=im.height, BlackIs1=photometric == 1),
    )


def _flate_xobject(pdf, im: Image.Image):
    """Flate with the PNG encoder's row filters (PDF's predictor 15): PNG-sized, lossless."""
    import zlib

    import pikepdf
    from pikepdf import Dictionary, Name

    colors = {"L": 1, "P": 1, "RGB": 3, "CMYK": 4}[im.mode]
    if im.mode == "P":
        palette = bytes(im.getpalette("RGB"))
        space = pikepdf.Array([Name.Indexed, Name.DeviceRGB, len(palette) // 3 - 1, pikepdf.String(palette)])
    else:
        space = {"L": Name.DeviceGray, "RGB": Name.DeviceRGB, "CMYK": Name.DeviceCMYK}[im.mode]
    if im.mode == "CMYK":  # PNG has no CMYK: the samples deflated as they are
        data, parms = zlib.compress(im.tobytes(), 6), None
    else:
        data = _png_idat(im)
        parms = Dictionary(Predictor=15, Colors=colors, BitsPerComponent=8, Columns=im.width)
    stream = image_stream(pdf, data, im.size, space, 8, "/FlateDecode")
    if parms is not None:
        stream.DecodeParms = parms
    return stream


def _png_idat(im: Image.Image) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "PNG", compress_level=6, bits=8)  # 8 bits a sample, as the stream's dictionary says
    png, pos, idat = buffer.getvalue(), 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat.append(png[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return b"".join(idat)


__all__ = ["GraftPage", "graft_pdf", "graft_pdf_bytes", "page_matrix"]
