"""A PDF page's own text layer: is it real text, and its lines and words in page pixels.

Born-digital pages carry their text; reading them again by OCR is slow and
worse than the text itself. ``pdf_text`` chooses what a job does with it:

- ``auto``: use the page's text layer when it is real text, OCR the rest. A
  layer is *not* real text when most of its glyphs are drawn invisibly (text
  render mode 3 or 7: an earlier OCR pass over a scan), when its characters
  are unreadable (private-use or unassigned code points, U+FFFD, control
  characters: fonts without a usable Unicode mapping), or when the page is
  mostly a picture with little text on it (a scan with a stamped header).
- ``ocr``: OCR every page (an earlier invisible layer is dropped from the
  searchable PDF so the text is not found twice).
- ``keep``: never OCR; a page without a text layer comes out empty.

The glyph counts come from walking the page's content stream with pikepdf
(render mode and picture area are not in any text extractor's output); the
lines and words come from poppler's ``pdftotext -bbox-layout``, whose boxes
are in points of the displayed page (MediaBox, after /Rotate, y down) -- the
same frame poppler renders for OCR, so a box scales straight to page pixels.
Torch-free.
"""

from __future__ import annotations

import math
import re
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from core.errors import CorruptFile, InvalidOption, OcrError
from pipeline.result import OCR_SOURCE, Block, Line, Page, Word, box_polygon

PDF_TEXT_MODES = ("auto", "ocr", "keep")
TEXT_SOURCE_OCR = OCR_SOURCE
TEXT_SOURCE_LAYER = "text-layer"

INVISIBLE_MODES = (3, 7)  # neither fill nor stroke (7 only adds to the clip path)
MAX_BAD_CHAR_SHARE = 0.1  # more unreadable characters than this and the layer is garbage
PICTURE_SHARE = 0.5  # a page whose pictures cover this much of it is a scan ...
PICTURE_PAGE_MIN_CHARS = 200  # ... unless its text layer has at least this many characters
_MAX_FORM_DEPTH = 8
_PAINTING = frozenset(("S", "s", "f", "F", "f*", "B", "B*", "b", "b*", "sh"))
_XHTML = "{http://www.w3.org/1999/xhtml}"
_XML_INVALID = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def check_mode(mode: str) -> str:
    if mode not in PDF_TEXT_MODES:
        raise InvalidOption(f"pdf_text must be one of {', '.join(PDF_TEXT_MODES)}, not {mode!r}.")
    return mode


# --- the content stream: glyphs drawn visibly and invisibly, area under pictures ---------------------
@dataclass
class LayerStats:
    visible_glyphs: int = 0  # bytes of text shown in a painting render mode
    invisible_glyphs: int = 0  # bytes of text shown in render mode 3 or 7
    picture_area: float = 0.0  # user-space area under image XObjects and inline images
    paths_painted: int = 0  # stroke, fill and shading operators
    unmapped_glyphs: int = 0  # bytes of text shown in fonts whose codes have no Unicode meaning
    page_area: float = 1.0

    @property
    def picture_share(self) -> float:
        return min(1.0, self.picture_area / self.page_area) if self.page_area > 0 else 0.0

    @property
    def mostly_invisible(self) -> bool:
        return self.invisible_glyphs > self.visible_glyphs


def analyse_page(page) -> LayerStats:
    """Count the page's visible and invisible glyphs and the area its pictures cover (a pikepdf.Page)."""
    x0, y0, x1, y1 = media_box(page)
    stats = LayerStats(page_area=abs(x1 - x0) * abs(y1 - y0))
    try:
        _walk(page.obj, _page_resources(page), (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), stats, depth=0, seen=set())
    except OcrError:
        raise
    except Exception as exc:
        raise CorruptFile(f"The page's content cannot be read ({type(exc).__name__}: {exc}).") from None
    return stats


def _page_resources(page):
    resources = page.obj.get("/Resources")
    if resources is None:
        # Resources may be inherited from the page tree (the PDF spec allows it, some writers do it).
        node = page.obj.get("/Parent")
        while node is not None and resources is None:
            resources = node.get("/Resources")
            node = node.get("/Parent")
    return resources


def _walk(stream_owner, resources, ctm, stats: LayerStats, depth: int, seen: set) -> None:
    import pikepdf

    stack: list[tuple[tuple, int, bool]] = []
    render_mode, unmapped = 0, False
    xobjects = resources.get("/XObject") if resources is not None else None
    fonts = resources.get("/Font") if resources is not None else None
    for item in pikepdf.parse_content_stream(stream_owner):
        if isinstance(item, pikepdf.ContentStreamInlineImage):
            stats.picture_area += _unit_square_area(ctm)
            continue
        operands, op = item.operands, str(item.operator)
        if op == "q":
            stack.append((ctm, render_mode, unmapped))
        elif op == "Q":
            if stack:
                ctm, render_mode, unmapped = stack.pop()
        elif op == "cm" and len(operands) == 6:
            ctm = _multiply(tuple(float(v) for v in operands), ctm)
        elif op == "Tr" and operands:
            render_mode = int(operands[0])
        elif op == "Tf" and operands:
            font = fonts.get(str(operands[0])) if fonts is not None else None
            unmapped = font is not None and not _font_maps_to_unicode(font)
        elif op in ("Tj", "'", '"', "TJ") and operands:
            shown = _shown_bytes(operands[-1])
            if unmapped:
                stats.unmapped_glyphs += shown
            if render_mode in INVISIBLE_MODES:
                stats.invisible_glyphs += shown
            else:
                stats.visible_glyphs += shown
        elif op in _PAINTING:
            stats.paths_painted += 1
        elif op == "Do" and operands and xobjects is not None:
            xobject = xobjects.get(str(operands[0]))
            if xobject is None:
                continue
            subtype = xobject.get("/Subtype")
            if subtype == pikepdf.Name.Image:
                stats.picture_area += _unit_square_area(ctm)
            elif subtype == pikepdf.Name.Form and depth < _MAX_FORM_DEPTH:
                key = xobject.objgen
                if key in seen and key != (0, 0):
                    continue  # a form that draws itself: count it once
                seen.add(key)
                matrix = tuple(float(v) for v in xobject.get("/Matrix", [1, 0, 0, 1, 0, 0]))
                form_resources = xobject.get("/Resources", resources)
                _walk(xobject, form_resources, _multiply(matrix, ctm), stats, depth + 1, seen)


def _font_maps_to_unicode(font) -> bool:
    """Whether text in ``font`` can be turned into Unicode (PDF 32000-1, 9.10.2).

    A /ToUnicode CMap always can; a composite font only through a predefined Adobe
    character collection (CJK), never with Identity ordering; a simple font through its
    encoding's glyph names, which fail when they are made-up names such as /g12.
    """
    from fontTools.agl import toUnicode

    if "/ToUnicode" in font:
        return True
    subtype = font.get("/Subtype")
    if subtype == "/Type0":
        descendants = font.get("/DescendantFonts")
        try:
            info = descendants[0].get("/CIDSystemInfo")
            ordering = str(info.get("/Ordering"))
        except Exception:
            return False
        return ordering in ("GB1", "CNS1", "Japan1", "Korea1", "KR")
    encoding = font.get("/Encoding")
    differences = encoding.get("/Differences") if hasattr(encoding, "get") else None
    names = [str(v)[1:] for v in differences or [] if str(v).startswith("/")]
    if names:
        return sum(1 for name in names if toUnicode(name)) * 2 >= len(names)
    # Standard encodings of standard glyph names; a Type3 font without names says nothing.
    return subtype != "/Type3" or encoding is not None


def _shown_bytes(operand) -> int:
    import pikepdf

    if isinstance(operand, pikepdf.Array):
        return sum(len(bytes(part)) for part in operand if isinstance(part, pikepdf.String))
    if isinstance(operand, pikepdf.String):
        return len(bytes(operand))
    return 0


def _multiply(m, n) -> tuple:
    """m x n for PDF matrices [a b c d e f] (m applied first)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def _unit_square_area(ctm) -> float:
    a, b, c, d = ctm[:4]
    return abs(a * d - b * c)


# --- dropping an earlier invisible layer -------------------------------------------------------
def strip_invisible_text(pdf, page) -> bool:
    """Remove the text the page shows invisibly (render mode 3 or 7): an earlier OCR layer.

    Used before our own layer goes on a page that is read again, so its text is not found
    twice. The page's own content stream loses its invisible text-showing operators (``'``
    and ``"`` keep their move to the next line); a Form XObject that holds nothing but
    invisible text (how OCRmyPDF grafts its layer) is no longer drawn. True when anything
    was removed; an untouched page keeps its content stream byte for byte.
    """
    import pikepdf

    resources = _page_resources(page)
    xobjects = resources.get("/XObject") if resources is not None else None
    kept, removed = [], 0
    stack: list[int] = []
    render_mode = 0
    for item in pikepdf.parse_content_stream(page):
        if isinstance(item, pikepdf.ContentStreamInlineImage):
            kept.append(item)
            continue
        operands, op = item.operands, str(item.operator)
        if op == "q":
            stack.append(render_mode)
        elif op == "Q" and stack:
            render_mode = stack.pop()
        elif op == "Tr" and operands:
            render_mode = int(operands[0])
        if op in ("Tj", "TJ", "'", '"') and render_mode in INVISIBLE_MODES:
            removed += 1
            if op == '"' and len(operands) == 3:
                kept.append(pikepdf.ContentStreamInstruction([operands[0]], pikepdf.Operator("Tw")))
                kept.append(pikepdf.ContentStreamInstruction([operands[1]], pikepdf.Operator("Tc")))
            if op in ("'", '"'):
                kept.append(pikepdf.ContentStreamInstruction([], pikepdf.Operator("T*")))
            continue
        if op == "Do" and operands and xobjects is not None and _invisible_text_form(xobjects.get(str(operands[0])), resources):
            removed += 1
            continue
        kept.append(item)
    if removed:
        page.obj.Contents = pikepdf.Stream(pdf, pikepdf.unparse_content_stream(kept))
    return removed > 0


def _invisible_text_form(xobject, resources) -> bool:
    import pikepdf

    if xobject is None or xobject.get("/Subtype") != pikepdf.Name.Form:
        return False
    stats = LayerStats()
    _walk(xobject, xobject.get("/Resources", resources), (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), stats, depth=1, seen=set())
    nothing_else = stats.visible_glyphs == 0 and stats.picture_area == 0 and stats.paths_painted == 0
    return stats.invisible_glyphs > 0 and nothing_else


# --- the page frame -------------------------------------------------------------------------
def media_box(page) -> tuple[float, float, float, float]:
    """The page's MediaBox, normalised so x0 < x1 and y0 < y1 (inherited from the page tree when absent)."""
    box = [float(v) for v in page.mediabox]
    return min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])


def page_rotation(page) -> int:
    """/Rotate snapped to 0, 90, 180 or 270 (inherited from the page tree when absent, as poppler does)."""
    node, value = page.obj, None
    while node is not None and value is None:
        value = node.get("/Rotate")
        node = node.get("/Parent")
    try:
        return int(round(float(value or 0) / 90.0)) % 4 * 90
    except (TypeError, ValueError):
        return 0


def display_size(page) -> tuple[float, float]:
    """Width and height of the page as shown (after /Rotate), in user-space units."""
    x0, y0, x1, y1 = media_box(page)
    width, height = x1 - x0, y1 - y0
    return (height, width) if page_rotation(page) % 180 else (width, height)


def rendered_size(page, dpi: int) -> tuple[int, int]:
    """The pixel size poppler renders the page at ``dpi``: its displayed MediaBox, rounded up.

    Poppler (22.12, Debian 12) ignores /UserUnit when it renders and when it reports text boxes,
    so a page's pixels and its text layer's points are both in plain user-space units.
    """
    width, height = display_size(page)
    return math.ceil(width * dpi / 72.0 - 1e-9), math.ceil(height * dpi / 72.0 - 1e-9)


# --- the text: pdftotext -bbox-layout -------------------------------------------------------
@dataclass
class LayerWord:
    text: str
    bbox: tuple[float, float, float, float]  # points of the displayed page, y down


@dataclass
class LayerLine:
    words: list[LayerWord]
    bbox: tuple[float, float, float, float]
    block: int  # lines of one pdftotext block share it

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


@dataclass
class TextLayer:
    lines: list[LayerLine] = field(default_factory=list)
    width_pt: float = 0.0  # the displayed page as pdftotext saw it
    height_pt: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def extract_text_layer(data: bytes, page_number: int, timeout: float = 60.0) -> TextLayer:
    """The lines and words of one page (1-based) of the PDF ``data``, as poppler reads them."""
    try:
        run = subprocess.run(
            ["pdftotext", "-q", "-bbox-layout", "-f", str(page_number), "-l", str(page_number), "-", "-"],
            input=data,  # on stdin: no copy of a big PDF on disk for every page
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise OcrError("poppler-utils (pdftotext) is not installed; text layers cannot be read.") from None
    except subprocess.TimeoutExpired:
        raise CorruptFile(f"The text of page {page_number} could not be read within {timeout:.0f} s.") from None
    if run.returncode != 0:
        reason = run.stderr.decode("utf-8", "replace").strip()[:200] or f"exit status {run.returncode}"
        raise CorruptFile(f"The text of page {page_number} could not be read ({reason}).")
    return parse_bbox_layout(run.stdout)


def parse_bbox_layout(xhtml: bytes) -> TextLayer:
    # Unmapped glyphs come out as control characters, which XML does not allow: they become U+FFFD,
    # which is what they are, and counts against the layer.
    xhtml = _XML_INVALID.sub("\ufffd".encode(), xhtml)
    try:
        root = ET.fromstring(xhtml)
    except ET.ParseError as exc:
        raise CorruptFile(f"The page's text could not be parsed ({exc}).") from None
    layer = TextLayer()
    page = next(root.iter(_XHTML + "page"), None)
    if page is None:
        return layer
    layer.width_pt, layer.height_pt = float(page.get("width", 0)), float(page.get("height", 0))
    for block_index, block in enumerate(page.iter(_XHTML + "block")):
        for line in block.iter(_XHTML + "line"):
            words = [LayerWord(w.text or "", _box(w)) for w in line.iter(_XHTML + "word") if (w.text or "").strip()]
            if words:
                layer.lines.append(LayerLine(words=words, bbox=_box(line), block=block_index))
    return layer


def _box(element) -> tuple[float, float, float, float]:
    return tuple(float(element.get(k, 0)) for k in ("xMin", "yMin", "xMax", "yMax"))


def bad_char_share(text: str) -> float:
    """Share of the non-space characters that cannot be real text."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    bad = sum(1 for c in chars if c == "\ufffd" or unicodedata.category(c) in ("Co", "Cn", "Cc", "Cs"))
    return bad / len(chars)


# --- the decision ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    use_layer: bool
    reason: str  # why, in words, for the page's warnings when the layer is not used
    layer_found: bool = True  # False: the page has no text at all (a scan), nothing to report


def shows_real_text(stats: LayerStats) -> bool:
    """From the content stream alone: the page draws text a reader sees and a search can find.

    The searchable PDF adds no layer to such a page even when it was OCR'd (pdf_text=ocr):
    the page is searchable already, and a second copy of its text would double every hit.
    """
    shown = stats.visible_glyphs + stats.invisible_glyphs
    if stats.visible_glyphs == 0 or stats.mostly_invisible or stats.unmapped_glyphs * 2 > shown:
        return False
    return not (stats.picture_share >= PICTURE_SHARE and stats.visible_glyphs < PICTURE_PAGE_MIN_CHARS)


def decide(mode: str, stats: LayerStats, layer: TextLayer) -> Decision:
    check_mode(mode)
    if mode == "ocr":
        return Decision(False, "pdf_text=ocr")
    if mode == "keep":
        return Decision(True, "pdf_text=keep")
    text = "".join(line.text for line in layer.lines)
    chars = sum(1 for c in text if not c.isspace())
    if chars == 0 or stats.visible_glyphs + stats.invisible_glyphs == 0:
        return Decision(False, "the page has no text layer", layer_found=False)
    if stats.mostly_invisible:
        return Decision(False, "the page's text layer is invisible text (an earlier OCR pass)")
    if stats.unmapped_glyphs * 2 > stats.visible_glyphs + stats.invisible_glyphs or bad_char_share(text) > MAX_BAD_CHAR_SHARE:
        return Decision(False, "the page's text layer has no usable Unicode mapping (unreadable glyphs)")
    if stats.picture_share >= PICTURE_SHARE and chars < PICTURE_PAGE_MIN_CHARS:
        return Decision(False, "the page is mostly a picture with little text in its text layer")
    return Decision(True, "real text")


def layer_page(layer: TextLayer, page_number: int, width: int, height: int, source_page: int | None = None) -> Page:
    """The text layer as a result Page in the pixels a rendering of ``width`` x ``height`` would have.

    pdftotext's blocks become the page's blocks, its lines and words theirs; a text layer's
    characters are certain, so every confidence is 1.
    """
    sx = width / layer.width_pt if layer.width_pt > 0 else 1.0
    sy = height / layer.height_pt if layer.height_pt > 0 else 1.0

    def scaled(box) -> tuple[float, float, float, float]:
        return _clamp((box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy), width, height)

    blocks: list[Block] = []
    current: list[Line] = []
    for index, line in enumerate(layer.lines):
        words = [Word(w.text, 1.0, box_polygon(scaled(w.bbox)), scaled(w.bbox)) for w in line.words]
        box = scaled(line.bbox)
        text = line.text
        current.append(Line(text, 1.0, box_polygon(box), box, [1.0] * len(text), words))
        if index + 1 == len(layer.lines) or layer.lines[index + 1].block != line.block:
            blocks.append(Block.of_lines(current))
            current = []
    return Page(page_number, width, height, 0, 1.0, blocks=blocks, source_page=source_page, text_source=TEXT_SOURCE_LAYER)


def _clamp(box, width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return (
        round(min(max(x0, 0.0), width), 2),
        round(min(max(y0, 0.0), height), 2),
        round(min(max(x1, 0.0), width), 2),
        round(min(max(y1, 0.0), height), 2),
    )


# --- one page, start to end -------------------------------------------------------------------
@dataclass
class LayerResult:
    decision: Decision
    page: Page | None  # the text-layer page when the decision uses it


def read_text_layer(
    data: bytes, source_page: int, dpi: int, mode: str, page_number: int | None = None, timeout: float = 60.0
) -> LayerResult:
    """Decide for page ``source_page`` of the PDF ``data`` and, when its layer is used, build its result Page
    (numbered ``page_number`` in its document, by default ``source_page``).

    The page size in pixels is what poppler renders at ``dpi`` (``rendered_size``), so text-layer
    and OCR pages of one document share one coordinate system.
    """
    check_mode(mode)
    if mode == "ocr":
        return LayerResult(Decision(False, "pdf_text=ocr"), None)
    from pipeline.loader import _open_pdf

    with _open_pdf(data) as pdf:
        if not 1 <= source_page <= len(pdf.pages):
            raise CorruptFile(f"The PDF has no page {source_page}.")
        page = pdf.pages[source_page - 1]
        width, height = rendered_size(page, dpi)
        shown_width, shown_height = display_size(page)
        try:
            stats = analyse_page(page)
            layer = extract_text_layer(data, source_page, timeout)
        except CorruptFile as exc:
            if mode == "keep":
                raise
            # The renderer may still draw what the text tools cannot read: OCR it.
            return LayerResult(Decision(False, f"its text layer cannot be read: {exc.message}"), None)
    # pdftotext's boxes are in the displayed (rotated) page, but its page size is the unrotated one.
    layer.width_pt, layer.height_pt = shown_width, shown_height
    decision = decide(mode, stats, layer)
    if not decision.use_layer:
        return LayerResult(decision, None)
    number = source_page if page_number is None else page_number
    result = layer_page(layer, number, width, height, source_page=source_page)
    if not layer.lines:
        result.warnings.append("pdf_text=keep: the page has no text layer, so its result is empty")
    return LayerResult(decision, result)


__all__ = [
    "PDF_TEXT_MODES",
    "Decision",
    "LayerStats",
    "TextLayer",
    "analyse_page",
    "decide",
    "display_size",
    "extract_text_layer",
    "layer_page",
    "media_box",
    "page_rotation",
    "read_text_layer",
    "shows_real_text",
    "strip_invisible_text",
]
