"""The real labelled training sets beside the checkout (../shared/data/train/), as line crops and pages.

Every set has one ``labels.jsonl`` (image, lang, kind, lines of four points and
text; see that folder's README). We split our own validation off them by image
(a stable hash of the file name, so the split never moves as sets grow); the
evaluation sets under ../shared/data/dev/ are never read here.

SROIE's receipts are transcribed in upper case whatever the print says, so its
lines carry ``case_unknown``: the recognizer's loss then accepts either case for
their letters (train_crnn.fold_case_log_probs).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.charset import Charset
from pipeline.recognizer import crop_line

log = logging.getLogger(__name__)

TRAIN_ROOT = Path(os.environ.get("OCR_TRAIN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "train"))
VALIDATION_SHARE = 10  # one image in ten (by name hash) is ours for validation
# The crops packed by `python -m training.gpu_bundle`, for a machine without the sets beside it.
PACKED_LINES = os.environ.get("OCR_REAL_LINES")


def is_validation(image: str) -> bool:
    return zlib.crc32(image.encode()) % VALIDATION_SHARE == 0


@dataclass
class RealLine:
    image: np.ndarray  # grey crop with the pipeline's margins, uint8 (h, w)
    text: str  # as the charset can say it
    case_unknown: bool  # the label's letter case says nothing about the print's
    source: str  # the set's folder name


def records(root: Path = TRAIN_ROOT):
    """(set name, record) for every image of every set under ``root``."""
    for labels in sorted(root.glob("*/labels.jsonl")):
        with open(labels, encoding="utf-8") as f:
            for raw in f:
                if raw.strip():
                    yield labels.parent.name, json.loads(raw)


def _read_gray(path: Path) -> np.ndarray | None:
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if img is None:
        log.warning("unreadable training image %s", path)
    return img


def load_lines(split: str, charset: Charset, root: Path = TRAIN_ROOT) -> list[RealLine]:
    """Transcribed, non-ignored horizontal lines of the ``split`` ("train" or "val") as crops.

    A line whose text the charset cannot say in full is left out rather than
    taught with characters missing.
    """
    if PACKED_LINES and root == TRAIN_ROOT:
        return _packed_lines(split, Path(PACKED_LINES))
    want_val = split == "val"
    out: list[RealLine] = []
    for name, rec in records(root):
        if rec.get("transcribed") is False or is_validation(rec["image"]) != want_val:
            continue
        lines = [ln for ln in rec["lines"] if not ln.get("ignore") and not ln.get("vertical") and ln["text"].strip()]
        if not lines:
            continue
        gray = _read_gray(root / name / rec["image"])
        if gray is None:
            continue
        word_crop = rec.get("level") == "word"
        for ln in lines:
            text = " ".join(ln["text"].split())
            if any(not charset.normalize(c) for c in text if not c.isspace()):
                continue
            said = charset.normalize(text)
            # a word crop is already cut with its neighbourhood; a page line gets the pipeline's margins
            crop = gray if word_crop else crop_line(gray, ln["points"])
            if crop.size == 0 or crop.shape[0] < 4 or crop.shape[1] < 4:
                continue
            out.append(RealLine(crop, said, rec.get("kind") == "receipt", name))
    return out


def _packed_lines(split: str, path: Path) -> list[RealLine]:
    with open(path, "rb") as f:
        rows = pickle.load(f).get(split, [])  # a bundle may carry the training split alone
    return [
        RealLine(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE), text, case, source)
        for png, text, case, source in rows
    ]


def summary(lines: list[RealLine]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.source] = counts.get(line.source, 0) + 1
    return counts


# A page line the detector must neither learn as text nor as background (FUNSD's untranscribed
# marks, vertical text, MSRA-TD500's difficult lines, lines too steep for CTPN's horizontal slices).
IGNORE = "\0ignore"
MAX_TILT_DEG = 30.0


def _tilt(points: np.ndarray) -> float:
    tl, tr = points[0], points[1]
    return abs(float(np.degrees(np.arctan2(tr[1] - tl[1], tr[0] - tl[0]))))


def load_pages(split: str, root: Path = TRAIN_ROOT, max_side: int = 2000):
    """Whole labelled pages of the ``split`` as training.pages.Page (grey image, quads, texts).

    Lines to ignore keep their quads with the text IGNORE, so geometry (warps,
    working size, crops) moves them with the rest. Word-level sets are skipped:
    a crop of one word is not a page.
    """
    from training.pages import Page  # pages pulls in the synthesiser's fonts; only the detector needs it

    want_val = split == "val"
    out = []
    for name, rec in records(root):
        if rec.get("level") == "word" or is_validation(rec["image"]) != want_val:
            continue
        gray = _read_gray(root / name / rec["image"])
        if gray is None:
            continue
        scale = min(1.0, max_side / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        quads, texts = [], []
        for ln in rec["lines"]:
            pts = np.asarray(ln["points"], dtype=np.float32).reshape(4, 2) * scale
            steep = MAX_TILT_DEG < _tilt(pts) < 180 - MAX_TILT_DEG
            ignore = ln.get("ignore") or ln.get("vertical") or steep
            quads.append(pts)
            texts.append(IGNORE if ignore else ln["text"])
        out.append(Page(image=gray, quads=np.array(quads, np.float32).reshape(-1, 4, 2), texts=texts, kind=f"real-{rec['kind']}"))
    return out
