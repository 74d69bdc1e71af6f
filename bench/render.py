"""Document pages rendered from the Debian Reference PDFs, with true lines from their text layer.

The ``debian-reference-*`` packages are reserved for evaluation: nothing in
training reads them. Pages are rasterised with ``pdftoppm`` at 200 DPI and their
line boxes and text come from ``pdftotext -bbox-layout``. Pieces of one visual
line that the text layer splits (a section number and its title) are joined.
The ``scan`` variant is the clean page degraded by :func:`bench.degrade.scan_degrade`;
the ``100dpi`` and ``72dpi`` variants are the same pages rasterised at that resolution, with the
text layer read at that scale (low-resolution scans and screenshots, not resampled 200-DPI pages).

Renders are cached under ``bench/out/`` in a folder keyed by RENDER_VERSION,
the degradation's version, the resolution and the PDF's size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

from PIL import Image

from bench.datasets import PageSample, PageSet
from bench.degrade import DEGRADE_VERSION, scan_degrade
from bench.metrics import TextLine, box_to_polygon, normalize
from core.settings import REPO_ROOT

RENDER_VERSION = "2"
DPI = 200
LOW_DPIS = (100, 72)
VARIANTS = ("clean", "scan", *(f"{d}dpi" for d in LOW_DPIS))
OUT_DIR = REPO_ROOT / "bench" / "out"
DOC_DIR = Path("/usr/share/debian-reference")
PDFS = {"zh": DOC_DIR / "debian-reference.zh-cn.pdf", "en": DOC_DIR / "debian-reference.en.pdf"}
PACKAGES = {"zh": "debian-reference-zh-cn", "en": "debian-reference-en"}

MIN_LINES = 15  # pages with less text (title pages, figures) say little
MIN_CJK_SHARE = 0.3  # a "Chinese" page must be mostly Chinese, not a code listing
FRONT_MATTER = 12  # title, copyright and contents pages
JOIN_GAP = 1.5  # row pieces closer than this many line heights are one line
SELECTION_SEED = 4

_XHTML = "{http://www.w3.org/1999/xhtml}"
# The text layer writes a lone grave/acute/circumflex/tilde (e.g. `chroot`ed) as a combining
# mark with nothing under it; the page shows the spacing character, which is what OCR reads.
SPACING_FORMS = {"\u0300": "`", "\u0301": "\u00b4", "\u0302": "^", "\u0303": "~"}


def pdf_path(lang: str) -> Path:
    path = PDFS[lang]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: install the Debian package {PACKAGES[lang]} (scripts/install_system_deps.sh does, as root)"
        )
    return path


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    for row in info.splitlines():
        if row.startswith("Pages:"):
            return int(row.split()[1])
    raise ValueError(f"pdfinfo gives no page count for {pdf}")


# ---------------------------------------------------------------- text layer


def parse_bbox_layout(xhtml: str, scale: float) -> list[TextLine]:
    """``pdftotext -bbox-layout`` output for one page -> its lines, in pixels (points x ``scale``)."""
    root = ET.fromstring(xhtml)
    lines = []
    for line in root.iter(f"{_XHTML}line"):
        words = [_spacing_accent((w.text or "").strip()) for w in line.iter(f"{_XHTML}word")]
        text = " ".join(w for w in words if w)
        if not text:
            continue
        box = [float(line.get(k)) * scale for k in ("xMin", "yMin", "xMax", "yMax")]
        lines.append(TextLine(box_to_polygon(*box), text))
    return lines


def _spacing_accent(word: str) -> str:
    return SPACING_FORMS.get(word[0], word[0]) + word[1:] if word else word


def _bounds(line: TextLine) -> tuple[float, float, float, float]:
    xs = [p[0] for p in line.polygon]
    ys = [p[1] for p in line.polygon]
    return min(xs), min(ys), max(xs), max(ys)


def join_row_pieces(lines: list[TextLine], gap: float = JOIN_GAP) -> list[TextLine]:
    """Join lines that sit on one row (vertical overlap >= 60% of the lower one) with a
    horizontal gap under ``gap`` line heights, left to right. Table cells further apart stay apart."""
    boxes = sorted((_bounds(line), line.text) for line in lines)
    merged: list[list] = []  # [x0, y0, x1, y1, text]
    for (x0, y0, x1, y1), text in boxes:
        for m in merged:
            overlap = min(m[3], y1) - max(m[1], y0)
            height = max(m[3] - m[1], y1 - y0)
            if overlap >= 0.6 * min(m[3] - m[1], y1 - y0) and -0.5 * height <= x0 - m[2] <= gap * height:
                m[0], m[1], m[2], m[3] = min(m[0], x0), min(m[1], y0), max(m[2], x1), max(m[3], y1)
                m[4] = f"{m[4]} {text}"
                break
        else:
            merged.append([x0, y0, x1, y1, text])
    merged.sort(key=lambda m: (m[1], m[0]))
    return [TextLine(box_to_polygon(*m[:4]), m[4]) for m in merged]


def text_layer(pdf: Path, page: int, dpi: int = DPI) -> list[TextLine]:
    out = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-bbox-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return join_row_pieces(parse_bbox_layout(out, dpi / 72.0))


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def usable(lines: list[TextLine], lang: str) -> bool:
    """Enough lines, text an OCR engine could reproduce, and for Chinese mostly Chinese."""
    if len(lines) < MIN_LINES:
        return False
    text = "".join(normalize(line.text) for line in lines)
    if not text or any(ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cc", "Cs") for ch in text):
        return False
    return lang != "zh" or sum(is_cjk(ch) for ch in text) >= MIN_CJK_SHARE * len(text)


# ---------------------------------------------------------------- cache


def cache_dir(lang: str, dpi: int = DPI) -> Path:
    pdf = pdf_path(lang)
    stat = pdf.stat()
    key = f"{RENDER_VERSION}|{DEGRADE_VERSION}|{dpi}|{pdf.name}|{stat.st_size}|{int(stat.st_mtime)}"
    return OUT_DIR / f"rendered-{lang}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def write_lines(path: Path, lines: list[TextLine]) -> None:
    data = [{"polygon": [list(p) for p in line.polygon], "text": line.text} for line in lines]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def read_lines(path: Path) -> list[TextLine]:
    return [TextLine([tuple(p) for p in d["polygon"]], d["text"]) for d in json.loads(path.read_text(encoding="utf-8"))]


def variant_dpi(variant: str) -> int:
    """``clean``/``scan`` -> 200, ``100dpi`` -> 100."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return int(variant.removesuffix("dpi")) if variant.endswith("dpi") else DPI


def candidate_pages(count: int) -> list[int]:
    """Body pages in a fixed shuffled order: any limit takes a prefix of the same selection."""
    pages = list(range(FRONT_MATTER + 1, count + 1))
    random.Random(SELECTION_SEED).shuffle(pages)
    return pages


def select_pages(lang: str, limit: int) -> list[int]:
    """The first ``limit`` usable pages of the candidate order (text layers cached as they are read)."""
    pdf, folder = pdf_path(lang), cache_dir(lang)
    (folder / "layer").mkdir(parents=True, exist_ok=True)
    chosen = []
    for page in candidate_pages(page_count(pdf)):
        if len(chosen) >= limit:
            break
        layer = folder / "layer" / f"p{page:04d}.json"
        if not layer.exists():
            lines = text_layer(pdf, page)
            write_lines(layer, lines if usable(lines, lang) else [])
        if read_lines(layer):
            chosen.append(page)
    return chosen


def clean_page(lang: str, page: int, dpi: int = DPI) -> tuple[Path, Path]:
    """(image, lines) files of one rendered page, rendering it on first use.

    Pages are chosen at 200 DPI (:func:`select_pages`); another resolution reads the text layer again at its own scale.
    """
    folder = cache_dir(lang, dpi)
    image, lines = folder / "clean" / f"p{page:04d}.png", folder / "layer" / f"p{page:04d}.json"
    if not lines.exists():
        lines.parent.mkdir(parents=True, exist_ok=True)
        write_lines(lines, text_layer(pdf_path(lang), page, dpi))
    if not image.exists():
        image.parent.mkdir(parents=True, exist_ok=True)
        tmp = image.with_name(f"{image.stem}-partial")  # pdftoppm adds ".png"
        subprocess.run(
            [
                "pdftoppm",
                "-f",
                str(page),
                "-l",
                str(page),
                "-r",
                str(dpi),
                "-gray",
                "-png",
                "-singlefile",
                str(pdf_path(lang)),
                str(tmp),
            ],
            check=True,
            capture_output=True,
        )
        tmp.with_name(f"{tmp.name}.png").replace(image)
    return image, lines


def scan_page(lang: str, page: int) -> tuple[Path, Path]:
    folder = cache_dir(lang) / "scan"
    image, lines = folder / f"p{page:04d}.png", folder / f"p{page:04d}.json"
    if not image.exists():
        folder.mkdir(parents=True, exist_ok=True)
        clean_image, clean_lines = clean_page(lang, page)
        with Image.open(clean_image) as im:
            degraded, moved = scan_degrade(im, read_lines(clean_lines), seed=zlib.crc32(f"{lang}-{page}".encode()))
        write_lines(lines, moved)
        degraded.save(image)
    return image, lines


def load_page(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def rendered_set(lang: str, variant: str, limit: int) -> PageSet:
    """``rendered-<lang> <variant>``: ``limit`` Debian Reference pages, ``clean``, ``scan``, ``100dpi`` or ``72dpi``."""
    dpi = variant_dpi(variant)
    samples = []
    for page in select_pages(lang, limit):
        image, lines = scan_page(lang, page) if variant == "scan" else clean_page(lang, page, dpi)
        samples.append(PageSample(f"{lang}-p{page}", read_lines(lines), lambda p=image: load_page(p)))
    return PageSet(f"rendered-{lang} {variant}", lang, samples)
