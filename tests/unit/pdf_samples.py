"""Small real PDFs for the text-layer and grafting tests, written with pikepdf (no office suite).

- ``born_digital``: real text in Helvetica (a standard font: poppler maps it to Unicode by name);
- ``unmapped_cid`` / ``made_up_names``: text in fonts without a Unicode mapping (garbage glyphs);
- ``scan``: a page-sized picture, optionally with a little real text on top;
- our own OCR output (pipeline.formats.to_pdf) is the invisible-layer case.
"""

from __future__ import annotations

import io

import pikepdf
from pikepdf import Array, Dictionary, Name, String
from PIL import Image, ImageDraw

from pipeline.formats.graft import image_stream


def helvetica(pdf):
    return pdf.make_indirect(
        Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica, Encoding=Name.WinAnsiEncoding)
    )


def _descriptor(name: str) -> Dictionary:
    return Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name("/" + name),
        Flags=4,
        FontBBox=[0, -200, 1000, 800],
        ItalicAngle=0,
        Ascent=800,
        Descent=-200,
        CapHeight=700,
        StemV=80,
    )


def identity_font_without_unicode(pdf):
    descendant = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=Name("/Unmapped"),
        CIDSystemInfo=Dictionary(Registry=String("Adobe"), Ordering=String("Identity"), Supplement=0),
        FontDescriptor=_descriptor("Unmapped"),
        DW=500,
    )
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type0,
            BaseFont=Name("/Unmapped"),
            Encoding=Name("/Identity-H"),
            DescendantFonts=Array([descendant]),
        )
    )


def made_up_names_font(pdf):
    names = [Name(f"/g{n}") for n in range(12, 18)]
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type1,
            BaseFont=Name("/MadeUp"),
            FirstChar=65,
            LastChar=70,
            Widths=[500] * 6,
            Encoding=Dictionary(Type=Name.Encoding, Differences=Array([65, *names])),
            FontDescriptor=_descriptor("MadeUp"),
        )
    )


def save(pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def add_page(pdf, content: bytes, *, fonts=None, xobjects=None, mediabox=(0, 0, 612, 792), rotate=0, user_unit=None):
    resources = Dictionary()
    if fonts:
        resources.Font = Dictionary({"/" + k: v for k, v in fonts.items()})
    if xobjects:
        resources.XObject = Dictionary({"/" + k: v for k, v in xobjects.items()})
    page = Dictionary(Type=Name.Page, MediaBox=list(mediabox), Resources=resources, Contents=pikepdf.Stream(pdf, content))
    if rotate:
        page.Rotate = rotate
    if user_unit:
        page.UserUnit = user_unit
    pdf.pages.append(pikepdf.Page(pdf.make_indirect(page)))
    return pdf.pages[-1]


def born_digital(lines=("Hello born digital world",), **page) -> bytes:
    """One page of real Helvetica text, 24 pt, one line every 40 pt from (72, 700) of the MediaBox."""
    pdf = pikepdf.new()
    x0, y0 = page.get("mediabox", (0, 0))[:2]
    ops = [f"BT /F1 24 Tf {x0 + 72} {y0 + 700 - 40 * i} Td ({text}) Tj ET" for i, text in enumerate(lines)]
    ops.append(f"0.5 g {x0 + 300} {y0 + 100} 100 50 re f")  # a grey box: vector art that must survive
    add_page(pdf, "\n".join(ops).encode(), fonts={"F1": helvetica(pdf)}, **page)
    return save(pdf)


def unmapped_cid() -> bytes:
    pdf = pikepdf.new()
    add_page(
        pdf, b"BT /F1 24 Tf 72 700 Td <0011002200330044005500660077> Tj ET", fonts={"F1": identity_font_without_unicode(pdf)}
    )
    return save(pdf)


def made_up_names() -> bytes:
    pdf = pikepdf.new()
    add_page(pdf, b"BT /F1 24 Tf 72 700 Td (ABCDEF ABCDEF) Tj ET", fonts={"F1": made_up_names_font(pdf)})
    return save(pdf)


def scan_picture(size=(850, 1100)) -> Image.Image:
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for row in range(10):
        draw.rectangle((100, 100 + 80 * row, 700, 130 + 80 * row), fill=0)
    return image


def scan(caption: str | None = None) -> bytes:
    """A letter page that is one greyscale picture (JPEG), with ``caption`` as real text in a corner."""
    pdf = pikepdf.new()
    picture = scan_picture()
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=75)
    image = image_stream(pdf, buffer.getvalue(), picture.size, Name.DeviceGray, 8, "/DCTDecode")
    ops = [b"q 612 0 0 792 0 0 cm /Im0 Do Q"]
    fonts = None
    if caption:
        ops.append(f"BT /F1 8 Tf 20 20 Td ({caption}) Tj ET".encode())
        fonts = {"F1": helvetica(pdf)}
    add_page(pdf, b"\n".join(ops), fonts=fonts, xobjects={"Im0": image})
    return save(pdf)


def blank() -> bytes:
    pdf = pikepdf.new()
    add_page(pdf, b"")
    return save(pdf)
