"""Typed results of the pipeline, serialisable to and from JSON-ready dicts.

All coordinates are in the pixels of the original page image (after EXIF
orientation is applied, before any rotation or deskew of ours).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

Point = tuple[float, float]


@dataclass
class Line:
    text: str
    confidence: float  # 0..1, geometric mean of char_confidences (see pipeline/ctc.py)
    polygon: list[Point]  # 4 points, clockwise from top-left, page pixels
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1
    char_confidences: list[float] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict) -> Line:
        return cls(
            text=d["text"],
            confidence=float(d["confidence"]),
            polygon=[(float(x), float(y)) for x, y in d["polygon"]],
            bbox=tuple(float(v) for v in d["bbox"]),
            char_confidences=[float(c) for c in d.get("char_confidences", [])],
        )


@dataclass
class Page:
    page_number: int  # 1-based, in the source document
    width: int
    height: int
    angle: int  # 0, 90, 180 or 270: clockwise rotation that was undone
    angle_confidence: float
    lines: list[Line] = field(default_factory=list)
    skew: float = 0.0  # small-angle deskew applied, degrees
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Page:
        return cls(
            page_number=int(d["page_number"]),
            width=int(d["width"]),
            height=int(d["height"]),
            angle=int(d["angle"]),
            angle_confidence=float(d["angle_confidence"]),
            lines=[Line.from_dict(x) for x in d.get("lines", [])],
            skew=float(d.get("skew", 0.0)),
            timings=dict(d.get("timings", {})),
            warnings=list(d.get("warnings", [])),
        )


@dataclass
class Document:
    pages: list[Page] = field(default_factory=list)
    lang: str = "mix"

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages)

    def to_dict(self) -> dict:
        return {"lang": self.lang, "pages": [p.to_dict() for p in self.pages]}

    @classmethod
    def from_dict(cls, d: dict) -> Document:
        return cls(pages=[Page.from_dict(p) for p in d.get("pages", [])], lang=d.get("lang", "mix"))
