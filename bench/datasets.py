"""The benchmark's evaluation sets, read from ``../shared/data/dev`` (evaluation only: never train or tune on them).

Page sets yield :class:`PageSample` (an image and its true lines); recognizer
sets yield :class:`CropSample` (a cropped word or line and its transcription).
Rendered Debian Reference pages live in :mod:`bench.render`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from bench.metrics import TextLine, box_to_polygon
from core.settings import REPO_ROOT

DATA_ROOT = Path(os.environ.get("OCR_BENCH_DATA", REPO_ROOT.parent / "shared" / "data" / "dev"))
FUNSD_DIR = DATA_ROOT / "funsd" / "testing_data"
MSRA_DIR = DATA_ROOT / "msra_td500_test" / "test"
IIIT5K_DIR = DATA_ROOT / "iiit5k_test"
UW3_DIR = DATA_ROOT / "uw3_50lines" / "test"


def load_rgb(path: Path) -> Image.Image:
    """Decoded pixels as stored, without EXIF orientation: the datasets' ground truth is in stored pixels
    (two MSRA-TD500 photos carry an EXIF rotation their boxes ignore)."""
    with Image.open(path) as im:
        return Image.fromarray(np.asarray(im.convert("RGB")))


@dataclass
class PageSample:
    id: str
    lines: list[TextLine]
    loader: Callable[[], Image.Image] = field(repr=False)

    def image(self) -> Image.Image:
        return self.loader()


@dataclass
class PageSet:
    name: str
    lang: str  # en | zh | mix: which model / Tesseract languages suit it
    samples: list[PageSample]
    has_text: bool = True  # False: detection-only ground truth (no CER)


@dataclass
class CropSample:
    id: str
    text: str
    path: Path

    def gray(self) -> np.ndarray:
        with Image.open(self.path) as im:
            return np.asarray(im.convert("L"))


@dataclass
class CropSet:
    name: str
    lang: str
    kind: str  # "word" | "line": Tesseract's page segmentation for one crop
    samples: list[CropSample]


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"benchmark data not found: {path} (set OCR_BENCH_DATA to the dev data folder)")
    return path


# ---------------------------------------------------------------- FUNSD


def _vertical_overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def funsd_lines(annotation: dict) -> list[TextLine]:
    """True lines of a FUNSD form: within each entity, words whose vertical extents overlap
    (by at least half the smaller height) form a line, read left to right.

    Words with empty text (logos, marks) are left out, and so are entities left empty.
    """
    lines = []
    for entity in annotation.get("form", []):
        rows: list[dict] = []  # {"span": (top, bottom), "words": [(x0, y0, x1, y1, text)]}
        words = [w for w in entity.get("words", []) if w.get("text", "").strip()]
        for w in sorted(words, key=lambda w: ((w["box"][1] + w["box"][3]) / 2, w["box"][0])):
            x0, y0, x1, y1 = (float(v) for v in w["box"])
            for row in rows:
                top, bottom = row["span"]
                if _vertical_overlap((top, bottom), (y0, y1)) >= 0.5 * min(bottom - top, y1 - y0):
                    row["span"] = (min(top, y0), max(bottom, y1))
                    row["words"].append((x0, y0, x1, y1, w["text"].strip()))
                    break
            else:
                rows.append({"span": (y0, y1), "words": [(x0, y0, x1, y1, w["text"].strip())]})
        for row in rows:
            ws = sorted(row["words"], key=lambda w: w[0])
            box = (min(w[0] for w in ws), min(w[1] for w in ws), max(w[2] for w in ws), max(w[3] for w in ws))
            lines.append(TextLine(box_to_polygon(*box), " ".join(w[4] for w in ws)))
    return lines


def funsd(limit: int | None) -> PageSet:
    ann_dir = _require(FUNSD_DIR / "annotations")
    samples = []
    for ann_path in sorted(ann_dir.glob("*.json"))[:limit]:
        image_path = FUNSD_DIR / "images" / f"{ann_path.stem}.png"
        lines = funsd_lines(json.loads(ann_path.read_text(encoding="utf-8")))
        samples.append(PageSample(ann_path.stem, lines, lambda p=image_path: load_rgb(p)))
    return PageSet("FUNSD", "en", samples)


# ---------------------------------------------------------------- MSRA-TD500


def rotated_rectangle(x: float, y: float, w: float, h: float, angle: float) -> list[tuple[float, float]]:
    """MSRA-TD500 box (axis-aligned x, y, w, h turned by ``angle`` radians about its centre;
    positive turns clockwise on screen) -> 4 points, clockwise from the top-left."""
    cx, cy = x + w / 2, y + h / 2
    c, s = math.cos(angle), math.sin(angle)
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    return [(c * (px - cx) - s * (py - cy) + cx, s * (px - cx) + c * (py - cy) + cy) for px, py in corners]


def msra_lines(gt_text: str) -> list[TextLine]:
    lines = []
    for row in gt_text.splitlines():
        parts = row.split()
        if len(parts) != 7:
            continue
        _, difficult, x, y, w, h, angle = parts
        polygon = rotated_rectangle(float(x), float(y), float(w), float(h), float(angle))
        lines.append(TextLine(polygon, "", difficult=difficult == "1"))
    return lines


def msra_td500(limit: int | None) -> PageSet:
    root = _require(MSRA_DIR)
    samples = []
    for gt_path in sorted(root.glob("*.gt"))[:limit]:
        image_path = gt_path.with_suffix(".JPG")
        lines = msra_lines(gt_path.read_text(encoding="utf-8"))
        samples.append(PageSample(gt_path.stem, lines, lambda p=image_path: load_rgb(p)))
    return PageSet("MSRA-TD500", "mix", samples, has_text=False)


# ---------------------------------------------------------------- recognizer sets


def iiit5k(limit: int | None) -> CropSet:
    tags = _require(IIIT5K_DIR / "test.tags").read_text(encoding="utf-8").splitlines()
    samples = []
    for row in tags[:limit]:
        rel, _, label = row.strip().partition(" ")
        if rel:
            samples.append(CropSample(Path(rel).stem, label, IIIT5K_DIR / rel))
    return CropSet("IIIT5K", "en", "word", samples)


def uw3(limit: int | None) -> CropSet:
    root = _require(UW3_DIR)
    samples = []
    for gt_path in sorted(root.glob("*.gt.txt"))[:limit]:
        stem = gt_path.name.removesuffix(".gt.txt")
        text = gt_path.read_text(encoding="utf-8").strip()
        samples.append(CropSample(stem, text, root / f"{stem}.bin.png"))
    return CropSet("UW3", "en", "line", samples)
