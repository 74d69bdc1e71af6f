"""The typed result tree -- Document > Page > Block > Line > Word -- and its one serialiser.

All coordinates are in the pixels of the original page image (after EXIF
orientation is applied, before any rotation or deskew of ours). Every API
answer, stored file, CLI output and the web page read the dict that
``Document.export()`` makes; ``Document.from_dict`` reads it back, and also
reads schema version 1 (flat Page > Line), which older stored results hold.

Version 1 compatibility, for one release: each exported page still carries
``lines``, the flat list of its lines in reading order, shaped as in version 1
(no ``words``). It is marked deprecated in the JSON Schema; clients should read
``blocks[].lines[]`` instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Literal

Point = tuple[float, float]
BBox = tuple[float, float, float, float]  # x0, y0, x1, y1

SCHEMA_VERSION = 2
# A page whose text was read by the recognizer; another source (a PDF's own text layer) names itself.
OCR_SOURCE = "ocr"


def weighted_confidence(parts: list[tuple[float, int]]) -> float:
    """Geometric mean over characters, from (geometric-mean confidence, character count) of each part.

    A line's confidence is already the geometric mean of its characters' (pipeline/ctc.py), so
    weighting each part's log by its length gives exactly the mean over all the characters.
    """
    total = sum(n for _, n in parts)
    if total == 0:
        return 0.0
    return math.exp(sum(n * math.log(min(max(c, 1e-12), 1.0)) for c, n in parts) / total)


def bbox_of(points: list[Point]) -> BBox:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def box_polygon(bbox: BBox) -> list[Point]:
    x0, y0, x1, y1 = bbox
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _points(raw) -> list[Point]:
    return [(float(x), float(y)) for x, y in raw]


def _bbox(raw) -> BBox:
    x0, y0, x1, y1 = (float(v) for v in raw)
    return (x0, y0, x1, y1)


@dataclass
class Word:
    """A run of text the recognizer's CTC alignment places on the page: a space-separated
    token of Latin script, or one CJK character (see pipeline/words.py)."""

    text: str
    confidence: float  # 0..1, geometric mean of the word's character confidences
    polygon: list[Point]  # 4 points, clockwise from the text's top-left, page pixels
    bbox: BBox

    def to_dict(self) -> dict:
        return {"text": self.text, "confidence": self.confidence, "polygon": _pairs(self.polygon), "bbox": list(self.bbox)}

    @classmethod
    def from_dict(cls, d: dict) -> Word:
        return cls(text=d["text"], confidence=float(d["confidence"]), polygon=_points(d["polygon"]), bbox=_bbox(d["bbox"]))


@dataclass
class Line:
    text: str
    confidence: float  # 0..1, geometric mean of char_confidences (see pipeline/ctc.py)
    polygon: list[Point]  # 4 points, clockwise from top-left, page pixels
    bbox: BBox
    char_confidences: list[float] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)  # empty where no alignment is known (version 1 results)

    def v1_dict(self) -> dict:
        return {
            "text": self.text,
            "confidence": self.confidence,
            "polygon": _pairs(self.polygon),
            "bbox": list(self.bbox),
            "char_confidences": list(self.char_confidences),
        }

    def to_dict(self) -> dict:
        return {**self.v1_dict(), "words": [w.to_dict() for w in self.words]}

    @classmethod
    def from_dict(cls, d: dict) -> Line:
        return cls(
            text=d["text"],
            confidence=float(d["confidence"]),
            polygon=_points(d["polygon"]),
            bbox=_bbox(d["bbox"]),
            char_confidences=[float(c) for c in d.get("char_confidences", [])],
            words=[Word.from_dict(w) for w in d.get("words", [])],
        )


@dataclass
class Block:
    """Lines that read as one unit (a paragraph, a heading, a table cell), in reading order."""

    lines: list[Line]
    polygon: list[Point]  # 4 points, clockwise from top-left, page pixels
    bbox: BBox
    confidence: float  # geometric mean over the characters of its lines

    @classmethod
    def of_lines(cls, lines: list[Line], polygon: list[Point] | None = None) -> Block:
        """A block around ``lines``; without a polygon, their axis-aligned bounding box."""
        if polygon is None:
            corners = [p for line in lines for p in box_polygon(line.bbox)]
            polygon = box_polygon(bbox_of(corners)) if corners else []
        bbox = bbox_of(polygon) if polygon else (0.0, 0.0, 0.0, 0.0)
        confidence = weighted_confidence([(ln.confidence, len(ln.text)) for ln in lines])
        return cls(lines=list(lines), polygon=polygon, bbox=bbox, confidence=round(confidence, 4))

    def to_dict(self) -> dict:
        return {
            "polygon": _pairs(self.polygon),
            "bbox": list(self.bbox),
            "confidence": self.confidence,
            "lines": [ln.to_dict() for ln in self.lines],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Block:
        return cls(
            lines=[Line.from_dict(x) for x in d.get("lines", [])],
            polygon=_points(d["polygon"]),
            bbox=_bbox(d["bbox"]),
            confidence=float(d["confidence"]),
        )


@dataclass(init=False)
class Page:
    """One page of the document.

    ``page_number`` is the page's 1-based place in this document (a job or a CLI run);
    ``source_page`` is its 1-based page in the file it came from, ``file_name`` and
    ``file_index`` (0-based place of the file in the request) name that file.
    """

    page_number: int
    width: int
    height: int
    angle: int  # 0, 90, 180 or 270: clockwise rotation that was undone
    angle_confidence: float
    blocks: list[Block]
    skew: float  # small-angle deskew applied, degrees
    timings: dict[str, float]  # seconds per stage
    warnings: list[str]
    source_page: int  # the page number, unless told otherwise
    file_name: str | None
    file_index: int | None
    text_source: str  # "ocr", or "text-layer" for a born-digital PDF page read from its own text

    # A hand-written __init__ keeps version 1's signature, Page(number, w, h, angle, conf, lines),
    # which callers and tests use, beside the tree's ``blocks``.
    def __init__(
        self,
        page_number: int,
        width: int,
        height: int,
        angle: int,
        angle_confidence: float,
        lines: list[Line] | None = None,
        skew: float = 0.0,
        timings: dict[str, float] | None = None,
        warnings: list[str] | None = None,
        *,
        blocks: list[Block] | None = None,
        source_page: int | None = None,
        file_name: str | None = None,
        file_index: int | None = None,
        text_source: str = OCR_SOURCE,
    ):
        if lines and blocks:
            raise ValueError("give a Page its lines or its blocks, not both")
        self.page_number = page_number
        self.width = width
        self.height = height
        self.angle = angle
        self.angle_confidence = angle_confidence
        self.blocks = list(blocks) if blocks is not None else []
        if lines:
            self.lines = lines
        self.skew = skew
        self.timings = dict(timings or {})
        self.warnings = list(warnings or [])
        self.source_page = page_number if source_page is None else source_page
        self.file_name = file_name
        self.file_index = file_index
        self.text_source = text_source

    @property
    def lines(self) -> list[Line]:
        """All lines in reading order (block by block)."""
        return [line for block in self.blocks for line in block.lines]

    @lines.setter
    def lines(self, lines: list[Line]) -> None:
        """Lines with no known grouping become one block."""
        self.blocks = [Block.of_lines(lines)] if lines else []

    @property
    def words(self) -> list[Word]:
        return [word for line in self.lines for word in line.words]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict:
        return {
            "page_number": self.page_number,
            "source_page": self.source_page,
            "file_name": self.file_name,
            "file_index": self.file_index,
            "text_source": self.text_source,
            "width": self.width,
            "height": self.height,
            "angle": self.angle,
            "angle_confidence": self.angle_confidence,
            "skew": self.skew,
            "blocks": [b.to_dict() for b in self.blocks],
            "lines": [ln.v1_dict() for ln in self.lines],  # deprecated: version 1's flat view
            "timings": dict(self.timings),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Page:
        """A version 2 page, or a version 1 one (no ``blocks``: its lines become one block)."""
        page = cls(
            page_number=int(d["page_number"]),
            width=int(d["width"]),
            height=int(d["height"]),
            angle=int(d["angle"]),
            angle_confidence=float(d["angle_confidence"]),
            skew=float(d.get("skew", 0.0)),
            timings=dict(d.get("timings", {})),
            warnings=list(d.get("warnings", [])),
            source_page=_optional_int(d.get("source_page")),
            file_name=d.get("file_name"),
            file_index=_optional_int(d.get("file_index")),
            text_source=d.get("text_source") or OCR_SOURCE,
        )
        if "blocks" in d:
            page.blocks = [Block.from_dict(b) for b in d["blocks"]]
        else:
            page.lines = [Line.from_dict(x) for x in d.get("lines", [])]
        return page


@dataclass
class Document:
    pages: list[Page] = field(default_factory=list)
    lang: str = "mix"
    schema_version: Literal[2] = field(default=SCHEMA_VERSION, init=False)

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages)

    def export(self) -> dict:
        """The JSON-ready dict every output and answer is made from (as docTR's Document.export())."""
        return {"schema_version": self.schema_version, "lang": self.lang, "pages": [p.to_dict() for p in self.pages]}

    to_dict = export

    @classmethod
    def from_dict(cls, d: dict) -> Document:
        version = int(d.get("schema_version", 1))
        if version > SCHEMA_VERSION:
            raise ValueError(f"result schema version {version} is newer than this code reads ({SCHEMA_VERSION})")
        return cls(pages=[Page.from_dict(p) for p in d.get("pages", [])], lang=d.get("lang", "mix"))


def _optional_int(value) -> int | None:
    return None if value is None else int(value)


def _pairs(points: list[Point]) -> list[list[float]]:
    return [[x, y] for x, y in points]


def json_schema() -> dict:
    """JSON Schema (2020-12) of ``Document.export()``, generated from the dataclasses above.

    Pydantic reads the field types; the one thing it cannot see is the deprecated
    version 1 ``lines`` view that ``Page.to_dict`` adds, which is added here.
    """
    from pydantic import TypeAdapter  # only the schema route needs it

    schema = TypeAdapter(Document).json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    page = defs["Page"]
    page["properties"]["lines"] = {
        "type": "array",
        "items": {"$ref": "#/$defs/Line"},
        "deprecated": True,
        "description": "Version 1's flat list of the page's lines (without words); read blocks[].lines[] instead. "
        "Removed in the release after schema version 2 first shipped.",
    }
    # Page.to_dict always writes these; the constructor's defaults (None) are filled in by then.
    page["required"] = sorted({*page.get("required", []), *(f.name for f in fields(Page)), "lines"})
    schema["required"] = sorted({*schema.get("required", []), "schema_version", "lang", "pages"})
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "/schemas/result-v2.json"
    schema["title"] = "OCR result, schema version 2"
    return schema
