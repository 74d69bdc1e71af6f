"""Runs every engine over the same samples and scores them with :mod:`bench.metrics`.

Each image is decoded once and handed to the engines in turn, so their figures
come from the same pages in the same run. An engine that fails on a sample scores
that sample as an empty answer and the failure is counted and reported, so one
bad page cannot hide the rest of the table.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from PIL import Image
from tqdm import tqdm

from bench.datasets import CropSet, PageSample, PageSet
from bench.engines import EngineUnavailable
from bench.metrics import CerCount, DetectionCount, page_cer, page_detection, text_cer, word_correct

ANGLES = (0, 90, 180, 270)
NO_PAGE_ORIENTATION = "reads no page orientation"


@dataclass
class Score:
    """One engine on one set."""

    items: int = 0
    seconds: float = 0.0
    cer: CerCount = field(default_factory=CerCount)
    detection: DetectionCount = field(default_factory=DetectionCount)
    correct: int = 0  # words or lines read exactly / orientations found
    failures: int = 0
    first_error: str = ""
    unavailable: str = ""  # why the engine did not run at all

    @property
    def per_item(self) -> float:
        return self.seconds / self.items if self.items else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    def fail(self, exc: BaseException) -> None:
        self.failures += 1
        if not self.first_error:
            self.first_error = f"{type(exc).__name__}: {exc}"[:300]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ready(engine, lang: str, score: Score) -> bool:
    try:
        engine.warm_up(lang)
        return True
    except EngineUnavailable as exc:
        score.unavailable = str(exc)
        _log(f"  {engine.name}: unavailable: {exc}")
        return False


def evaluate_pages(engines: list, page_set: PageSet) -> dict[str, Score]:
    scores = {e.name: Score() for e in engines}
    ready = [e for e in engines if _ready(e, page_set.lang, scores[e.name])]
    for sample in tqdm(page_set.samples, desc=page_set.name, file=sys.stderr, leave=False):
        image = sample.image()
        for engine in ready:
            score = scores[engine.name]
            start = time.perf_counter()
            try:
                pred = engine.run(image, page_set.lang)
            except Exception as exc:  # scored as an empty page and reported
                pred = []
                score.fail(exc)
            score.seconds += time.perf_counter() - start
            score.items += 1
            if page_set.has_text:
                score.cer.add(page_cer(sample.lines, pred))
            score.detection.add(page_detection(sample.lines, pred))
    return scores


def evaluate_crops(engines: list, crop_set: CropSet, batch: int = 64) -> dict[str, Score]:
    """Recognizer only: words score exact (case-insensitive, alphanumeric) matches, lines CER and exact matches."""
    scores = {e.name: Score() for e in engines}
    ready = [e for e in engines if _ready(e, crop_set.lang, scores[e.name])]
    samples = crop_set.samples
    for begin in tqdm(range(0, len(samples), batch), desc=crop_set.name, file=sys.stderr, leave=False):
        chunk = samples[begin : begin + batch]
        crops = [s.gray() for s in chunk]
        for engine in ready:
            score = scores[engine.name]
            start = time.perf_counter()
            try:
                texts = engine.recognize(crops, crop_set.lang, crop_set.kind)
            except Exception as exc:
                texts = [""] * len(chunk)
                score.fail(exc)
            score.seconds += time.perf_counter() - start
            for sample, text in zip(chunk, texts, strict=True):
                score.items += 1
                if crop_set.kind == "word":
                    score.correct += word_correct(sample.text, text)
                else:
                    count = text_cer(sample.text, text)
                    score.cer.add(count)
                    score.correct += count.distance == 0
    return scores


def rotated(image: Image.Image, angle: int) -> Image.Image:
    """The page turned clockwise by ``angle`` degrees (a multiple of 90)."""
    return image.rotate(-angle, expand=True) if angle else image


def evaluate_orientation(engines: list, samples: list[PageSample]) -> dict[str, Score]:
    """Each page at 0/90/180/270 degrees clockwise; an engine must name the rotation."""
    scores = {e.name: Score() for e in engines}
    ready = []
    for engine in engines:
        if not _ready(engine, "mix", scores[engine.name]):
            continue
        if engine.orients():
            ready.append(engine)
        else:
            scores[engine.name].unavailable = NO_PAGE_ORIENTATION
    for sample in tqdm(samples, desc="orientation", file=sys.stderr, leave=False):
        upright = sample.image()
        for angle in ANGLES:
            image = rotated(upright, angle)
            for engine in ready:
                score = scores[engine.name]
                start = time.perf_counter()
                try:
                    found = engine.orientation(image)
                except Exception as exc:
                    found = None
                    score.fail(exc)
                score.seconds += time.perf_counter() - start
                score.items += 1
                score.correct += found == angle
    return scores
