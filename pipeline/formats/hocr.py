"""hOCR 1.2 (XHTML): ocr_page > ocr_carea > ocr_par > ocr_line > ocrx_word, in page pixels.

One result block is one ocr_carea holding one ocr_par (the pipeline does not
split a block further). Word boxes and x_wconf are the words' own, placed by
the recognizer's CTC alignment (pipeline/words.py); a line without words (a
version 1 result) carries its text directly.
"""

from __future__ import annotations

import math
import re
from html import escape

from pipeline.formats.layout import quarter_turn
from pipeline.result import Document, Line, Page

OCR_SYSTEM = "ocr-platform"
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"
_HTML_LANG = {"zh": "zh", "en": "en", "mix": "zh"}
# Characters XML 1.0 forbids (a CTC decoder can in principle emit any code point of its charset).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="{lang}" lang="{lang}">
 <head>
  <title>OCR result</title>
  <meta http-equiv="Content-Type" content="text/html; charset=utf-8"/>
  <meta name="ocr-system" content="{system}"/>
  <meta name="ocr-capabilities" content="{capabilities}"/>
  <meta name="ocr-number-of-pages" content="{pages}"/>
 </head>
 <body>
"""
_FOOTER = """ </body>
</html>
"""


def to_hocr(doc: Document) -> str:
    lang = _HTML_LANG.get(doc.lang, "zh")
    parts = [_HEADER.format(lang=lang, system=OCR_SYSTEM, capabilities=CAPABILITIES, pages=len(doc.pages))]
    for page in doc.pages:
        parts.append(_page(page))
    parts.append(_FOOTER)
    return "".join(parts)


def _page(page: Page) -> str:
    n = page.page_number
    # ppageno: the 0-based physical page in the source file; x_source: that file.
    source = f"; x_source {_quoted(page.file_name)}" if page.file_name else ""
    title = f"bbox 0 0 {page.width} {page.height}; ppageno {page.source_page - 1}{source}"
    out = [f'  <div class="ocr_page" id="page_{n}" title="{escape(title)}">\n']
    number = 0
    for b, block in enumerate(page.blocks, start=1):
        box = _bbox(block.bbox, page)
        out.append(f'   <div class="ocr_carea" id="block_{n}_{b}" title="bbox {box}">\n')
        out.append(f'    <p class="ocr_par" id="par_{n}_{b}" title="bbox {box}">\n')
        for line in block.lines:
            number += 1
            out.append(_line(line, page, f"{n}_{number}"))
        out.append("    </p>\n   </div>\n")
    out.append("  </div>\n")
    return "".join(out)


def _line(line: Line, page: Page, ident: str) -> str:
    angle = quarter_turn(page.angle)
    # hOCR's textangle is counter-clockwise; page.angle is the clockwise turn of the content.
    rotation = f"; textangle {(360 - angle) % 360}" if angle else ""
    head = f'     <span class="ocr_line" id="line_{ident}" title="bbox {_bbox(line.bbox, page)}{rotation}; x_wconf {_wconf(line.confidence)}">'
    if not line.words:
        return f"{head}{_text(line.text)}</span>\n"
    out = [head, "\n"]
    for j, word in enumerate(line.words, start=1):
        out.append(
            f'      <span class="ocrx_word" id="word_{ident}_{j}" title="bbox {_bbox(word.bbox, page)}; x_wconf {_wconf(word.confidence)}">'
            f"{_text(word.text)}</span>\n"
        )
    out.append("     </span>\n")
    return "".join(out)


def _text(text: str) -> str:
    return escape(_NOT_XML.sub("", text), quote=False)


def _quoted(name: str) -> str:
    """A double-quoted hOCR property value (its own quotes and backslashes escaped)."""
    cleaned = _NOT_XML.sub("", name).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{cleaned}"'


def _bbox(box, page: Page) -> str:
    x0, y0, x1, y1 = (float(v) for v in box)
    # The tolerance keeps float noise (50.000000001) from growing a box by a pixel.
    left = min(max(math.floor(min(x0, x1) + 1e-6), 0), page.width)
    top = min(max(math.floor(min(y0, y1) + 1e-6), 0), page.height)
    right = min(max(math.ceil(max(x0, x1) - 1e-6), left), page.width)
    bottom = min(max(math.ceil(max(y0, y1) - 1e-6), top), page.height)
    return f"{left} {top} {right} {bottom}"


def _wconf(confidence: float) -> int:
    return int(round(min(max(float(confidence), 0.0), 1.0) * 100))
