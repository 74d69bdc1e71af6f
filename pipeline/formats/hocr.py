"""hOCR 1.2 (XHTML): ocr_page > ocr_line > ocrx_word, with bbox and x_wconf in page pixels."""

from __future__ import annotations

import math
import re
from html import escape

from pipeline.formats.layout import quarter_turn, text_run, token_spans
from pipeline.result import Document, Line, Page

OCR_SYSTEM = "ocr-platform"
CAPABILITIES = "ocr_page ocr_line ocrx_word ocrp_wconf"
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
    # ppageno is the 0-based physical page number in the source document.
    out = [f'  <div class="ocr_page" id="page_{n}" title="bbox 0 0 {page.width} {page.height}; ppageno {n - 1}">\n']
    for i, line in enumerate(page.lines, start=1):
        out.append(_line(line, page, f"{n}_{i}"))
    out.append("  </div>\n")
    return "".join(out)


def _line(line: Line, page: Page, ident: str) -> str:
    text = _NOT_XML.sub("", line.text)
    bbox = _bbox(line.bbox, page)
    angle = quarter_turn(page.angle)
    # hOCR's textangle is counter-clockwise; page.angle is the clockwise turn of the content.
    rotation = f"; textangle {(360 - angle) % 360}" if angle else ""
    out = [f'   <span class="ocr_line" id="line_{ident}" title="bbox {bbox}{rotation}; x_wconf {_wconf(line.confidence)}">\n']
    run = text_run(tuple(float(v) for v in line.bbox), page.angle)
    for j, (first, end, begin_frac, end_frac) in enumerate(token_spans(text), start=1):
        word_box = _bbox(run.span(begin_frac, end_frac, line.bbox), page)
        confidence = _word_confidence(line, text, first, end)
        out.append(
            f'    <span class="ocrx_word" id="word_{ident}_{j}" title="bbox {word_box}; x_wconf {_wconf(confidence)}">'
            f"{escape(text[first:end], quote=False)}</span>\n"
        )
    out.append("   </span>\n")
    return "".join(out)


def _word_confidence(line: Line, text: str, first: int, end: int) -> float:
    """Product of the word's character confidences (as the line's is of all of them), when they line up."""
    if text != line.text or len(line.char_confidences) != len(line.text):
        return line.confidence
    return math.prod(line.char_confidences[first:end])


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
