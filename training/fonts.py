"""Fonts from Debian packages, grouped by what they can render.

A font is (path, face index) because CJK fonts ship as TrueType collections.
Coverage comes from each face's cmap, so a line is never rendered with a font
that would draw tofu boxes for some of its characters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont

FONT_ROOTS = (Path("/usr/share/fonts"),)

# Families we train on: serif, sans, kai, song/ming, hei, mono, bold. Condensed,
# math and oblique-only faces are left out; italics stay for English variety.
SKIP = ("MathTeXGyre", "ExtraLight")


@dataclass(frozen=True)
class Font:
    path: str
    index: int
    name: str
    cjk: bool
    traditional: bool = False  # a Traditional Chinese face (TC/TW glyph shapes)

    def covers(self, text: str) -> bool:
        cmap = _cmap(self.path, self.index)
        return all(ord(ch) in cmap or ch == " " for ch in text)


@functools.cache
def _cmap(path: str, index: int) -> frozenset[int]:
    font = TTCollection(path, lazy=True).fonts[index] if path.endswith((".ttc", ".otc")) else TTFont(path, lazy=True)
    return frozenset(font.getBestCmap() or {})


def _faces(path: Path) -> list[tuple[int, str]]:
    if path.suffix.lower() in (".ttc", ".otc"):
        faces = TTCollection(str(path), lazy=True).fonts
    else:
        faces = [TTFont(str(path), lazy=True)]
    out = []
    for i, face in enumerate(faces):
        out.append((i, face["name"].getDebugName(4) or path.stem))
    return out


@functools.cache
def discover(roots: tuple[Path, ...] = FONT_ROOTS) -> list[Font]:
    fonts = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in (".ttf", ".otf", ".ttc") or any(s in path.name for s in SKIP):
                continue
            for index, name in _faces(path):
                # CJK collections hold JP/KR/TC/HK variants whose glyph shapes differ; Simplified
                # text is drawn with the SC/CN faces and Traditional text with the TC/TW ones.
                traditional = " TC" in name or name.endswith(" TW")
                if ("CJK" in name and " SC" not in name and not traditional) or name.endswith((" HK", " TW MBE")):
                    continue
                cmap = _cmap(str(path), index)
                cjk = 0x4E2D in cmap and 0x6587 in cmap
                fonts.append(Font(str(path), index, name, cjk=cjk, traditional=traditional and cjk))
    return fonts


def cjk_fonts(traditional: bool = False) -> list[Font]:
    return [f for f in discover() if f.cjk and f.traditional == traditional]


def latin_fonts() -> list[Font]:
    return [f for f in discover() if not f.cjk]
