"""Real page layouts: PDFs shipped in Debian packages, rasterised with their text layer as line ground truth.

Pages are rendered with ``pdftoppm`` at a random DPI; lines and their text come
from ``pdftotext -bbox-layout`` (poppler-utils). Lines follow the benchmark's
convention: split where words are far apart (table cells, tab stops), joined
where the text layer cut one visual line into pieces. Pages whose ink lies mostly outside the text layer
(figures, scanned images) are skipped: their unlabelled ink would teach the
detector that text is background.

The ``debian-reference-*`` packages are reserved for evaluation and never read.
``VALIDATION_PDFS`` are only ever used for validation, never for training. An HTML document among
them is printed to PDF by headless Chromium (A4, as a browser prints it) the first time it is needed:
debian-faq-zh-cn ships its Chinese FAQ as HTML, and its ``debian-faq.zh-cn.pdf`` is a one-page stub
("The PDF version of the debian-faq is currently not available for the language you've selected"),
so until 2026-11-30 the validation pages held no Chinese at all.
"""

from __future__ import annotations

import gzip
import html
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from bench.metrics import TextLine, box_to_polygon
from bench.render import JOIN_GAP, join_row_pieces
from training.corpus import DATA_DIR, RESERVED
from training.pages import Page

TRAIN_PDFS = (
    "/usr/share/doc/maint-guide-zh-cn/maint-guide.zh-cn.pdf",
    "/usr/share/doc/bzip2/manual.pdf.gz",
    "/usr/share/doc/fontconfig/fontconfig-user.pdf.gz",
    "/usr/share/doc/libtasn1-doc/libtasn1.pdf",
    "/usr/share/doc/nettle-dev/nettle.pdf.gz",
    "/usr/share/doc/valgrind/valgrind_manual.pdf.gz",
    "/usr/share/doc/zlib1g-dev/crc-doc.1.0.pdf.gz",
)
VALIDATION_PDFS = (
    "/usr/share/doc/debian/FAQ/zh-cn/basic-defs.zh-cn.html",  # 5 pages, printed (see above)
    "/usr/share/doc/debian/FAQ/zh-cn/software.zh-cn.html",  # 5 pages, printed
    "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
)
PRINT_MARGIN = "15mm"
MAX_STRAY_INK = 0.15  # skip pages with more ink than this outside the text layer's lines

_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')


def local_pdf(path: str, cache: Path = DATA_DIR / "pdfs") -> Path:
    """The PDF itself, or its gunzipped copy (an HTML document: printed) in the (git-ignored) data folder."""
    if RESERVED in path:
        raise ValueError(f"{path} is reserved for evaluation")
    src = Path(path)
    if src.suffix == ".html":
        return _printed(src, cache / f"{src.name}.pdf")
    if src.suffix != ".gz":
        return src
    out = cache / src.name.removesuffix(".gz")
    if not out.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        with gzip.open(src, "rb") as f, open(tmp, "wb") as g:
            shutil.copyfileobj(f, g)
        tmp.replace(out)
    return out


def _printed(src: Path, out: Path) -> Path:
    if not out.is_file():
        from training.html_pages import browser  # Playwright's Chromium, only when a document needs printing

        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        browser().print_pdf(src.resolve().as_uri(), str(tmp), PRINT_MARGIN)
        tmp.replace(out)
    return out


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^Pages:\s+(\d+)", info, re.M)
    return int(match.group(1)) if match else 0


def text_lines(pdf: Path, page: int) -> list[tuple[np.ndarray, str]]:
    """Lines of one page as ((4, 2) quad in PDF points, text).

    Text-layer lines are split at word gaps wider than the benchmark's JOIN_GAP
    line heights, and row pieces closer than that are joined, exactly as the
    benchmark builds its ground truth (bench.render.join_row_pieces).
    """
    out = subprocess.run(
        ["pdftotext", "-bbox-layout", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pieces = []
    for block in out.split("<line ")[1:]:
        words = [(float(a), float(b), float(c), float(d), html.unescape(t)) for a, b, c, d, t in _WORD.findall(block)]
        words = [w for w in words if w[4].strip()]
        if not words:
            continue
        height = max(w[3] for w in words) - min(w[1] for w in words)
        group = [words[0]]
        for w in words[1:]:
            if w[0] - group[-1][2] > JOIN_GAP * height:
                pieces.append(group)
                group = []
            group.append(w)
        pieces.append(group)
    lines = [
        TextLine(
            box_to_polygon(min(w[0] for w in g), min(w[1] for w in g), max(w[2] for w in g), max(w[3] for w in g)),
            " ".join(w[4].strip() for w in g),
        )
        for g in pieces
    ]
    return [(np.asarray(line.polygon, dtype=np.float32), line.text) for line in join_row_pieces(lines)]


def render(pdf: Path, page: int, dpi: int) -> np.ndarray:
    out = subprocess.run(
        ["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(pdf)],
        capture_output=True,
        check=True,
    ).stdout
    img = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError(f"pdftoppm gave no image for {pdf} page {page}")
    return img


def pdf_page(pdf: Path, page: int, dpi: int) -> Page | None:
    """One rendered page with its lines in pixels, or None when it has too few lines or too much unlabelled ink."""
    lines = text_lines(pdf, page)
    if len(lines) < 3:
        return None
    img = render(pdf, page, dpi)
    s = dpi / 72.0
    quads = np.stack([q for q, _ in lines]) * s
    paper = int(np.median(img[::4, ::4]))
    ink = np.abs(img.astype(np.int16) - paper) > 40
    covered = np.zeros(img.shape, np.uint8)
    for q in quads:
        x0, y0 = np.floor(q.min(0) - 2 * s).astype(int)
        x1, y1 = np.ceil(q.max(0) + 2 * s).astype(int)
        covered[max(y0, 0) : y1, max(x0, 0) : x1] = 1
    total = int(ink.sum())
    if total == 0 or int((ink & (covered == 0)).sum()) > MAX_STRAY_INK * total:
        return None
    return Page(image=img, quads=quads, texts=[t for _, t in lines], ink=ink, kind="pdf")


def validation_pages(dpi: int = 200) -> Iterator[Page]:
    """Every usable page of the installed VALIDATION_PDFS, in order, at ``dpi``."""
    for path in VALIDATION_PDFS:
        if not Path(path).is_file():
            continue
        pdf = local_pdf(path)
        for number in range(1, page_count(pdf) + 1):
            page = pdf_page(pdf, number, dpi)
            if page is not None:
                yield page


class PdfPages:
    """Random pages of the training PDFs (or the validation ones) at random DPI."""

    def __init__(self, seed: int, paths: tuple[str, ...] = TRAIN_PDFS, dpi: tuple[int, int] = (100, 200)):
        self.rng = random.Random(seed)
        self.dpi = dpi
        self.docs = []
        for path in paths:
            if Path(path).is_file():
                pdf = local_pdf(path)
                self.docs.append((pdf, page_count(pdf)))

    def __bool__(self) -> bool:
        return bool(self.docs)

    def sample(self, tries: int = 8) -> Page | None:
        for _ in range(tries):
            pdf, pages = self.rng.choice(self.docs)
            page = pdf_page(pdf, self.rng.randint(1, pages), self.rng.randint(*self.dpi))
            if page is not None:
                return page
        return None
