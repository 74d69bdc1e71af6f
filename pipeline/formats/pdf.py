"""Searchable PDF: each page image at its true size under an invisible, selectable text layer.

The text layer uses one composite (Type0) font with Identity-H encoding. Each
distinct character of the document gets its own 2-byte CID, a ToUnicode CMap
maps the CIDs back to Unicode (surrogate pairs for characters beyond the BMP),
and every CID is drawn with the single empty glyph of a tiny embedded
TrueType font built here with fontTools. Text render mode 3 keeps the text
invisible; each line is set in its box and stretched to the box's length with
horizontal scaling, so selection and ``pdftotext -bbox`` match the picture.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Sequence

from PIL import Image

from core.settings import get_settings
from pipeline.formats.layout import advance, text_run
from pipeline.result import Document, Line, Page

FONT_NAME = "GlyphLessFont"
UNITS_PER_EM = 1000
ASCENT, DESCENT = 800, -200  # ascent - descent = 1 em, so the font size is the line's height
JPEG_QUALITY = 80
PRODUCER = "ocr-platform"
_MAX_CIDS = 0xFFFF
_BFCHAR_CHUNK = 100  # the CMap syntax allows at most 100 entries per beginbfchar block


def to_pdf(doc: Document, page_images: Sequence[Image.Image]) -> bytes:
    """A PDF with one page per ``doc.pages`` entry, drawn from the matching image.

    The page size is the image's pixel size at its ``info["dpi"]`` (the loader
    records the rendering DPI of PDF pages), else at ``settings.pdf_dpi``.
    """
    import pikepdf

    if len(page_images) != len(doc.pages):
        raise ValueError(f"to_pdf needs one image per page: {len(doc.pages)} pages, {len(page_images)} images")
    cids = _CidMap(line.text for page in doc.pages for line in page.lines)
    pdf = pikepdf.new()
    font = _make_font(pdf, cids) if cids else None
    for page, image in zip(doc.pages, page_images, strict=True):
        _add_page(pdf, page, image, font, cids)
    pdf.docinfo["/Producer"] = PRODUCER
    out = io.BytesIO()
    pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


# --- characters -> CIDs ---------------------------------------------------------------------
class _CidMap:
    """CID 1..n for the document's distinct characters; CID 0 stays .notdef."""

    def __init__(self, texts):
        chars = sorted({c for text in texts for c in _clean(text)})
        if len(chars) > _MAX_CIDS - 1:
            chars = chars[: _MAX_CIDS - 1]  # beyond any real page; the rest fall back to U+FFFD below
        self.chars = chars
        self.cid = {c: i for i, c in enumerate(chars, start=1)}
        self._fallback = self.cid.get("\ufffd", 0)

    def __bool__(self) -> bool:
        return bool(self.chars)

    def encode(self, text: str) -> tuple[bytes, int]:
        """Identity-H bytes for ``text`` and their total advance in 1/1000 em."""
        codes, width = bytearray(), 0
        for char in _clean(text):
            codes += self.cid.get(char, self._fallback).to_bytes(2, "big")
            width += advance(char)
        return bytes(codes), width


def _clean(text: str) -> str:
    """Drop what cannot be text in a PDF (controls, lone surrogates); tabs become spaces."""
    text = text.replace("\t", " ")
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cs"))


# --- font -----------------------------------------------------------------------------------
@functools.cache
def glyphless_truetype() -> bytes:
    """A TrueType font whose only glyphs are empty: the text layer is never painted."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    builder = FontBuilder(UNITS_PER_EM, isTTF=True)
    builder.setupGlyphOrder([".notdef", "blank"])
    builder.setupCharacterMap({0x20: "blank"})
    empty = TTGlyphPen(None).glyph()
    builder.setupGlyf({".notdef": empty, "blank": empty})
    builder.setupHorizontalMetrics({".notdef": (UNITS_PER_EM // 2, 0), "blank": (UNITS_PER_EM // 2, 0)})
    builder.setupHorizontalHeader(ascent=ASCENT, descent=DESCENT)
    builder.setupNameTable({"familyName": FONT_NAME, "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=ASCENT, sTypoDescender=DESCENT, usWinAscent=ASCENT, usWinDescent=-DESCENT)
    builder.setupPost()
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


def _make_font(pdf, cids: _CidMap):
    from pikepdf import Array, Dictionary, Name, Stream, String

    program = glyphless_truetype()
    font_file = Stream(pdf, program)
    font_file.Length1 = len(program)
    descriptor = pdf.make_indirect(
        Dictionary(
            Type=Name.FontDescriptor,
            FontName=Name("/" + FONT_NAME),
            Flags=4,  # symbolic: the glyphs are not the standard Latin set
            FontBBox=[0, DESCENT, UNITS_PER_EM // 2, ASCENT],
            ItalicAngle=0,
            Ascent=ASCENT,
            Descent=DESCENT,
            CapHeight=ASCENT,
            StemV=80,
            FontFile2=font_file,
        )
    )
    # Every CID but 0 draws glyph 1, the empty one.
    cid_to_gid = Stream(pdf, b"\x00\x00" + b"\x00\x01" * len(cids.chars))
    widths = Array([advance(c) for c in cids.chars])
    descendant = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=Name("/" + FONT_NAME),
        CIDSystemInfo=Dictionary(Registry=String("Adobe"), Ordering=String("Identity"), Supplement=0),
        FontDescriptor=descriptor,
        DW=UNITS_PER_EM // 2,
        W=Array([1, widths]),
        CIDToGIDMap=cid_to_gid,
    )
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type0,
            BaseFont=Name("/" + FONT_NAME),
            Encoding=Name("/Identity-H"),
            DescendantFonts=Array([pdf.make_indirect(descendant)]),
            ToUnicode=Stream(pdf, _to_unicode_cmap(cids.chars)),
        )
    )


def _to_unicode_cmap(chars: list[str]) -> bytes:
    entries = [f"<{cid:04X}> <{c.encode('utf-16-be').hex().upper()}>" for cid, c in enumerate(chars, start=1)]
    blocks = []
    for i in range(0, len(entries), _BFCHAR_CHUNK):
        chunk = entries[i : i + _BFCHAR_CHUNK]
        blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar\n")
    return (
        "/CIDInit /ProcSet findresource begin\n"
        "12 dict begin\n"
        "begincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n"
        "/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" + "".join(blocks) + "endcmap\n"
        "CMapName currentdict /CMapResource defineresource pop\n"
        "end\n"
        "end\n"
    ).encode("ascii")


# --- pages ----------------------------------------------------------------------------------
def _image_dpi(image: Image.Image) -> tuple[float, float]:
    dpi = image.info.get("dpi")
    try:
        x, y = float(dpi[0]), float(dpi[1])
        if 10.0 <= x <= 10000.0 and 10.0 <= y <= 10000.0:
            return x, y
    except (TypeError, ValueError, IndexError):
        pass
    default = float(get_settings().pdf_dpi)
    return default, default


def _jpeg_xobject(pdf, image: Image.Image):
    from pikepdf import Name, Stream

    gray = image.mode in ("1", "L", "LA", "I", "I;16", "F")
    if "A" in image.getbands() or "transparency" in image.info:
        # JPEG has no alpha; transparent parts are paper, as the loader treats them.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    picture = image.convert("L" if gray else "RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return Stream(
        pdf,
        buffer.getvalue(),
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=picture.width,
        Height=picture.height,
        ColorSpace=Name.DeviceGray if gray else Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=Name.DCTDecode,
    )


def _add_page(pdf, page: Page, image: Image.Image, font, cids: _CidMap) -> None:
    import pikepdf
    from pikepdf import Dictionary, Name, Stream

    dpi_x, dpi_y = _image_dpi(image)
    width_pt, height_pt = image.width * 72.0 / dpi_x, image.height * 72.0 / dpi_y
    # Line boxes are in page.width x page.height pixels; the image may have been resized.
    scale_x, scale_y = width_pt / max(page.width, 1), height_pt / max(page.height, 1)
    content = [f"q {_num(width_pt)} 0 0 {_num(height_pt)} 0 0 cm /Im0 Do Q"]
    if font is not None:
        content += [_line_ops(line, page, cids, scale_x, scale_y, height_pt) for line in page.lines]
    resources = Dictionary(XObject=Dictionary(Im0=_jpeg_xobject(pdf, image)))
    if font is not None:
        resources.Font = Dictionary(F1=font)
    page_dict = Dictionary(
        Type=Name.Page,
        MediaBox=[0, 0, _round(width_pt), _round(height_pt)],
        Resources=resources,
        Contents=Stream(pdf, "\n".join(op for op in content if op).encode("ascii")),
    )
    pdf.pages.append(pikepdf.Page(pdf.make_indirect(page_dict)))


def _line_ops(line: Line, page: Page, cids: _CidMap, scale_x: float, scale_y: float, height_pt: float, font: str = "/F1") -> str:
    codes, advance_units = cids.encode(line.text)
    x0, y0, x1, y1 = (float(v) for v in line.bbox)
    box = (min(x0, x1) * scale_x, min(y0, y1) * scale_y, max(x0, x1) * scale_x, max(y0, y1) * scale_y)
    run = text_run(box, page.angle)  # in points, still y down
    if not codes or run.length <= 0 or run.height <= 0:
        return ""
    (sx, sy), (dx, dy) = run.start, run.direction
    # To PDF space (y up): the reading direction flips its y; "up" is it turned a quarter anticlockwise.
    ex, ey = float(dx), float(-dy)
    ux, uy = -ey, ex
    size = run.height
    descent = -DESCENT / UNITS_PER_EM * size
    ox, oy = sx + ux * descent, (height_pt - sy) + uy * descent
    stretch = 100.0 * run.length / (size * advance_units / UNITS_PER_EM)
    matrix = " ".join(_num(v) for v in (ex, ey, ux, uy, ox, oy))
    return f"BT 3 Tr {font} {_num(size)} Tf {_num(stretch)} Tz {matrix} Tm <{codes.hex().upper()}> Tj ET"


def _round(value: float) -> float:
    return round(value, 3)


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
