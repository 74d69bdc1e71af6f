"""Traditional Chinese document pages typeset from Debian's zh_TW message catalogs, with exact line boxes.

Text: the translations (msgstr) in ``/usr/share/locale/zh_TW/LC_MESSAGES/<domain>.mo`` for the
domains in CATALOGS, native Taiwanese translations of program messages. Training reads none of
them: it reads the zh_TW man pages and OpenCC conversions of Simplified Debian documents. Programs
that have a zh_TW man page are not in CATALOGS, and a message sharing a run of OVERLAP_RUN Han
characters with those man pages is dropped all the same, since man pages and catalogs of one
program can share sentences. Markup, mnemonics and format directives are removed; messages that
are mostly Han become sentences, joined into paragraphs.

Pages: A4, typeset with PIL in one of FONTS (Noto Sans/Serif CJK TC, AR PL UMing/UKai TW), a
heading, then paragraphs with a two-character indent. The layout is computed once, in points;
each resolution draws it with the font at that resolution's pixel size, and every line's true
box is what the renderer reports for the text it drew. ``scan`` is the 200-DPI page degraded by
:func:`bench.degrade.scan_degrade`; ``100dpi`` and ``72dpi`` are drawn at that resolution.

Everything is deterministic and cached under ``bench/out/`` in folders keyed by TW_VERSION, the
degradation's version, the resolution, and the sizes of the catalogs, fonts and man pages used.
"""

from __future__ import annotations

import gettext
import gzip
import hashlib
import json
import random
import re
import unicodedata
import zlib
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bench.datasets import PageSample, PageSet
from bench.degrade import DEGRADE_VERSION, scan_degrade
from bench.metrics import TextLine, box_to_polygon
from bench.render import DPI, OUT_DIR, load_page, read_lines, variant_dpi, write_lines

TW_VERSION = "1"
LOCALE_DIR = Path("/usr/share/locale/zh_TW/LC_MESSAGES")
MAN_DIR = Path("/usr/share/man/zh_TW")
# Domains with prose-like messages and no zh_TW man page (manpages-zh covers coreutils, bash,
# grep, sed, tar, make, PostgreSQL, systemd, binutils, shadow, ...).
CATALOGS = (
    "git",
    "gnupg2",
    "glib20",
    "gtk30",
    "gsettings-desktop-schemas",
    "gstreamer-1.0",
    "dpkg",
    "apt",
    "libapt-pkg6.0",
    "gettext-tools",
    "wget",
    "PackageKit",
    "appstream",
    "avahi",
    "shared-mime-info",
    "polkit-1",
    "Linux-PAM",
    "gdk-pixbuf",
    "man-db",
    "xz",
)
# (package, file, family name of the face in the collection)
FONTS = (
    ("fonts-noto-cjk", Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), "Noto Sans CJK TC"),
    ("fonts-noto-cjk", Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"), "Noto Serif CJK TC"),
    ("fonts-arphic-uming", Path("/usr/share/fonts/truetype/arphic/uming.ttc"), "AR PL UMing TW"),
    ("fonts-arphic-ukai", Path("/usr/share/fonts/truetype/arphic/ukai.ttc"), "AR PL UKai TW"),
)

A4_POINTS = (595.276, 841.89)
BODY_SIZES = (10.0, 10.5, 11.0, 12.0)  # points
HEADING_SCALE = 1.5
OVERLAP_RUN = 10
MIN_SENTENCE = 6  # characters
MIN_HAN_SHARE = 0.6
SENTENCES_PER_PARAGRAPH = (2, 6)
SELECTION_SEED = 10

_FORMAT = re.compile(r"%(\d+\$)?[-+ #0']*(\d+|\*)?(\.(\d+|\*))?(hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGcspmn]|%<[A-Z0-9]+>")
_MARKUP = re.compile(r"<[^<>]{1,40}>|&[a-z]+;")
_MNEMONIC = re.compile(r"[(（]_?[A-Za-z0-9][)）]|_(?=\w)|&(?=\w)")
_PLACEHOLDER = re.compile(r"\{[^{}]{0,30}\}|\$\{?\w+\}?|@\w+@|`[^`]*`|'[^']*'|\"[^\"]*\"")
_SENTENCE_END = "。！？；"
_TRIM = " -—–:：,，、.…*#=/\\|;；~`'\""
_OPENERS = "「『（([【《〈“‘"
_CLOSERS = "」』）)]】》〉”’"
_NO_LINE_START = "，。、；：？！）」』》〉】〕,.;:?!)]}%"


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _require(path: Path, package: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: install the Debian package {package} (scripts/install_system_deps.sh does, as root)"
        )
    return path


def _catalog(domain: str) -> Path:
    path = LOCALE_DIR / f"{domain}.mo"
    if not path.is_file():
        # Every catalog is needed: without one the pages' text, and so the figures, would differ.
        raise FileNotFoundError(
            f"{path} is missing: the set needs the zh_TW translations of {', '.join(CATALOGS)} "
            "(their Debian packages, on a system that keeps /usr/share/locale)"
        )
    return path


# ---------------------------------------------------------------- text


def catalog_messages(path: Path) -> list[str]:
    """Translations in one .mo file, header and untranslated entries left out; plurals give their first form."""
    with path.open("rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog
    out = []
    for key in sorted(catalog, key=str):
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid or (isinstance(key, tuple) and key[1] != 0):
            continue
        text = catalog[key]
        if text and text != msgid:
            out.append(text)
    return out


def sentences(message: str) -> list[str]:
    """The printable sentences of one translation: no markup, mnemonics, format directives or placeholders.

    A directive stands for text the program fills in, so it splits the message: the pieces on
    either side become separate sentences, each kept only if it is long and mostly Han.
    """
    out = []
    for piece in re.split(r"[\n\t|]+|\s{2,}", message):  # gnupg writes "ARG|description"
        piece = _MNEMONIC.sub("", _MARKUP.sub("", piece))
        piece = _PLACEHOLDER.sub("\0", _FORMAT.sub("\0", piece))
        piece = re.sub(f"[{re.escape(_OPENERS)}]\0[{re.escape(_CLOSERS)}]", "\0", piece)  # 「%s」 goes whole
        for part in piece.split("\0"):
            part = _tidy(part)
            if len(part) >= MIN_SENTENCE and _printable(part):
                out.append(part)
    return out


def _tidy(text: str) -> str:
    """Whitespace collapsed; brackets left empty or unpaired and dangling separators trimmed from the ends."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"「\s*」|『\s*』|（\s*）|\(\s*\)|“\s*”|‘\s*’|《\s*》|\[\s*\]", "", text)
    previous = None
    while text != previous:
        previous = text
        text = text.lstrip(_TRIM + _CLOSERS + "。！？").rstrip(_TRIM + _OPENERS)
    return text


def _printable(text: str) -> bool:
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn") for ch in text):
        return False
    visible = [ch for ch in text if not ch.isspace()]
    return sum(is_han(ch) for ch in visible) >= MIN_HAN_SHARE * len(visible)


def _han_runs(text: str, n: int = OVERLAP_RUN) -> set[int]:
    han = "".join(ch for ch in text if is_han(ch))
    return {zlib.crc32(han[k : k + n].encode()) for k in range(len(han) - n + 1)}


def man_page_runs() -> set[int]:
    """Every OVERLAP_RUN-character Han run of the zh_TW man pages (CRC32 of each)."""
    runs: set[int] = set()
    for path in sorted(MAN_DIR.rglob("*")):
        if path.is_file():
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8", errors="ignore") as f:
                runs |= _han_runs(f.read())
    return runs


@cache
def _faces() -> tuple[tuple[Path, int], ...]:
    """(file, index in the collection) of each face in FONTS."""
    from fontTools.ttLib import TTCollection

    faces = []
    for package, path, family in FONTS:
        names = [f["name"].getDebugName(1) for f in TTCollection(_require(path, package), lazy=True).fonts]
        if family not in names:
            raise FileNotFoundError(f"{path} has no face {family!r} (Debian package {package})")
        faces.append((path, names.index(family)))
    return tuple(faces)


@cache
def _coverage() -> frozenset[int]:
    """Code points every face in FONTS can draw: a sentence must look right in all of them."""
    from fontTools.ttLib import TTCollection

    common = None
    for path, index in _faces():
        cmap = set(TTCollection(path, lazy=True).fonts[index].getBestCmap())
        common = cmap if common is None else common & cmap
    return frozenset(common or ())


def corpus() -> list[str]:
    """All usable sentences in a fixed shuffled order."""
    seen, out = set(), []
    banned = man_page_runs()
    covered = _coverage()
    for domain in CATALOGS:
        for message in catalog_messages(_catalog(domain)):
            for sentence in sentences(message):
                if sentence in seen or _han_runs(sentence) & banned:
                    continue
                if any(ord(ch) not in covered for ch in sentence if not ch.isspace()):
                    continue
                seen.add(sentence)
                out.append(sentence)
    random.Random(SELECTION_SEED).shuffle(out)
    return out


# ---------------------------------------------------------------- layout


@dataclass
class PlacedLine:
    x: float  # left end of the baseline, points
    baseline: float  # points from the top
    size: float  # font size, points
    text: str


@dataclass
class PagePlan:
    font: int  # index into FONTS
    lines: list[PlacedLine]


def _tokens(text: str) -> list[str]:
    """Units a line may break between: a Latin word or number stays whole, every other character stands alone."""
    return re.findall(r"[A-Za-z0-9][A-Za-z0-9_.\-/@+]*|\s+|.", text)


def break_lines(text: str, width: float, first_indent: float, measure) -> list[tuple[float, str]]:
    """Greedy breaking of one paragraph into (indent, text) lines no wider than ``width`` (measure: str -> width).

    Closing punctuation never starts a line: it stays at the end of the previous one, past the
    margin if need be, as CJK typesetting does.
    """
    lines, current, indent = [], "", first_indent
    for token in _tokens(text):
        candidate = current + token
        if current and measure(candidate.rstrip()) > width - indent and token[0] not in _NO_LINE_START and not token.isspace():
            lines.append((indent, current.strip()))
            current, indent = token.lstrip(), 0.0
        else:
            current = candidate
    if current.strip():
        lines.append((indent, current.strip()))
    return lines


def _font(face: int, size_px: float) -> ImageFont.FreeTypeFont:
    path, index = _faces()[face]
    return ImageFont.truetype(str(path), size_px, index=index, layout_engine=ImageFont.Layout.BASIC)


def plan_pages(count: int, text: list[str]) -> list[PagePlan]:
    """The first ``count`` pages typeset from ``text`` in order; page k's look is drawn from a generator seeded by k."""
    plans, cursor = [], 0
    scale = DPI / 72.0  # measure at 200 DPI, where hinting disturbs widths least of the resolutions drawn
    page_w, page_h = A4_POINTS
    for k in range(count):
        rng = random.Random(SELECTION_SEED * 1000 + k)
        face = k % len(FONTS)
        size = rng.choice(BODY_SIZES)
        pitch = size * rng.uniform(1.5, 1.9)
        left, right = rng.uniform(60, 85), rng.uniform(60, 85)
        top, bottom = rng.uniform(60, 80), rng.uniform(60, 80)
        width = page_w - left - right
        body = _font(face, size * scale)
        lines: list[PlacedLine] = []

        heading_size = size * HEADING_SCALE
        while len(text[cursor % len(text)]) > 20:  # a heading is a short sentence, on one line
            cursor += 1
        heading = text[cursor % len(text)]
        cursor += 1
        y = top + heading_size
        lines.append(PlacedLine(left, y, heading_size, heading))
        y += heading_size * 1.2

        done = False
        while not done:
            n = rng.randint(*SENTENCES_PER_PARAGRAPH)
            parts = [text[(cursor + j) % len(text)] for j in range(n)]
            cursor += n
            paragraph = "".join(p if p[-1] in _SENTENCE_END else p + "。" for p in parts)
            broken = break_lines(paragraph, width * scale, 2 * size * scale, body.getlength)
            for indent, line in broken:
                if y + pitch > page_h - bottom:
                    done = True
                    break
                y += pitch
                lines.append(PlacedLine(left + indent / scale, y, size, line))
            y += pitch * rng.uniform(0.2, 0.6)
        plans.append(PagePlan(face, lines))
    return plans


def draw_page(plan: PagePlan, dpi: int) -> tuple[Image.Image, list[TextLine]]:
    """The page at ``dpi``, and each line's box as the renderer reports it (rounded outwards to whole pixels)."""
    scale = dpi / 72.0
    size = (round(A4_POINTS[0] * scale), round(A4_POINTS[1] * scale))
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    truth = []
    fonts: dict[float, ImageFont.FreeTypeFont] = {}
    for line in plan.lines:
        font = fonts.setdefault(line.size, _font(plan.font, line.size * scale))
        xy = (line.x * scale, line.baseline * scale)
        draw.text(xy, line.text, font=font, fill=0, anchor="ls")
        x0, y0, x1, y1 = draw.textbbox(xy, line.text, font=font, anchor="ls")
        truth.append(TextLine(box_to_polygon(x0, y0, x1, y1), line.text))
    return image, truth


# ---------------------------------------------------------------- cache


def _source_key() -> str:
    parts = [TW_VERSION]
    for domain in CATALOGS:
        stat = _catalog(domain).stat()
        parts.append(f"{domain}:{stat.st_size}:{int(stat.st_mtime)}")
    for path, index in _faces():
        parts.append(f"{path.name}:{index}:{path.stat().st_size}")
    man = sorted(p for p in MAN_DIR.rglob("*") if p.is_file())
    parts.append(f"man:{len(man)}:{sum(p.stat().st_size for p in man)}")
    return "|".join(parts)


def cache_dir(dpi: int) -> Path:
    key = f"{_source_key()}|{DEGRADE_VERSION}|{dpi}"
    return OUT_DIR / f"rendered-zh-tw-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def plans(count: int) -> list[PagePlan]:
    """Page plans, cached: any count takes a prefix of the same sequence of pages."""
    path = cache_dir(DPI) / "plans.json"
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if len(stored) >= count:
            return [PagePlan(p["font"], [PlacedLine(**line) for line in p["lines"]]) for p in stored[:count]]
    made = plan_pages(count, corpus())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(p) for p in made], ensure_ascii=False), encoding="utf-8")
    return made


def page_files(plan: PagePlan, k: int, variant: str) -> tuple[Path, Path]:
    """(image, lines) files of page ``k`` in ``variant``, drawn on first use."""
    dpi = variant_dpi(variant)
    folder = cache_dir(dpi) / ("scan" if variant == "scan" else "clean")
    image, lines = folder / f"p{k:04d}.png", folder / f"p{k:04d}.json"
    if not (image.exists() and lines.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        if variant == "scan":
            clean_image, clean_lines = page_files(plan, k, "clean")
            with Image.open(clean_image) as im:
                page, truth = scan_degrade(im, read_lines(clean_lines), seed=zlib.crc32(f"zh-tw-{k}".encode()))
        else:
            page, truth = draw_page(plan, dpi)
        write_lines(lines, truth)
        page.save(image)
    return image, lines


def traditional_set(variant: str, limit: int) -> PageSet:
    """``rendered-zh-tw <variant>``: ``limit`` typeset Traditional Chinese pages, read as ``zh``."""
    samples = []
    for k, plan in enumerate(plans(limit)):
        image, lines = page_files(plan, k, variant)
        samples.append(PageSample(f"zh-tw-p{k}", read_lines(lines), lambda p=image: load_page(p)))
    return PageSet(f"rendered-zh-tw {variant}", "zh", samples)
