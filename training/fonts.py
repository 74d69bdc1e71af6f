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

# The folders of the font packages that scripts/install_system_deps.sh installs everywhere.
# Validation lines and pages are drawn from these only, so installing more fonts on a
# training machine never changes a validation set.
BASE_DIRS = (
    "opentype/noto",
    "truetype/arphic",
    "truetype/dejavu",
    "truetype/freefont",
    "truetype/liberation",
    "truetype/wqy",
)

# Latin display, book and signage faces for training lines only (scene words come in far
# more typefaces than a document's serif and sans): `scripts/install_train_fonts.sh`.
TRAIN_FONT_PACKAGES = (
    "fonts-urw-base35",
    "fonts-texgyre",
    "fonts-adf-accanthis",
    "fonts-adf-baskervald",
    "fonts-adf-berenis",
    "fonts-adf-gillius",
    "fonts-adf-ikarius",
    "fonts-adf-irianis",
    "fonts-adf-libris",
    "fonts-adf-mekanus",
    "fonts-adf-oldania",
    "fonts-adf-romande",
    "fonts-adf-switzer",
    "fonts-adf-tribun",
    "fonts-adf-universalis",
    "fonts-adf-verana",
    "fonts-dustin",
    "fonts-roboto",
    "fonts-open-sans",
    "fonts-lato",
    "fonts-cantarell",
    "fonts-comic-neue",
    "fonts-linuxlibertine",
    "fonts-ebgaramond",
    "fonts-oflb-asana-math",
    "fonts-cabin",
    "fonts-comfortaa",
    "fonts-jura",
    "fonts-quattrocento",
    "fonts-tuffy",
    "fonts-vollkorn",
    "fonts-oldstandard",
    "fonts-yanone-kaffeesatz",
    "fonts-hack",
    "fonts-inconsolata",
    "fonts-ibm-plex",
    "fonts-montserrat",
    "fonts-crosextra-carlito",
    "fonts-crosextra-caladea",
    "fonts-sil-gentium",
    "fonts-sil-andika",
    "fonts-femkeklaver",
    "fonts-isabella",
    "fonts-breip",
    "fonts-dkg-handwriting",
    "fonts-pecita",
    "fonts-staypuft",
    "fonts-humor-sans",
)

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


def _is_base(path: Path, root: Path) -> bool:
    rel = path.relative_to(root).as_posix()
    return any(rel.startswith(d + "/") for d in BASE_DIRS)


@functools.cache
def discover(roots: tuple[Path, ...] = FONT_ROOTS, extra: bool = False) -> list[Font]:
    """The usable faces under ``roots``: the base packages', and with ``extra`` every other one."""
    fonts = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in (".ttf", ".otf", ".ttc") or any(s in path.name for s in SKIP):
                continue
            if not extra and not _is_base(path, root):
                continue
            for index, name in _faces(path):
                # CJK collections hold JP/KR/TC/HK variants whose glyph shapes differ; Simplified
                # text is drawn with the SC/CN faces and Traditional text with the TC/TW ones.
                traditional = " TC" in name or name.endswith(" TW")
                if ("CJK" in name and " SC" not in name and not traditional) or name.endswith((" HK", " TW MBE")):
                    continue
                cmap = _cmap(str(path), index)
                if extra and not _is_base(path, root) and not all(ord(c) in cmap for c in "AZaz09"):
                    continue  # symbol, dingbat and math faces draw no letters
                cjk = 0x4E2D in cmap and 0x6587 in cmap
                fonts.append(Font(str(path), index, name, cjk=cjk, traditional=traditional and cjk))
    return fonts


def cjk_fonts(traditional: bool = False) -> list[Font]:
    return [f for f in discover() if f.cjk and f.traditional == traditional]


def latin_fonts(extra: bool = False) -> list[Font]:
    """Non-CJK faces; ``extra`` adds the training-only packages (TRAIN_FONT_PACKAGES) where installed."""
    return [f for f in discover(extra=extra) if not f.cjk]
