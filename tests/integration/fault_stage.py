"""A fault-injecting stage for the integration tests' worker (OCR_PIPELINE_FACTORY points here).

Same interface as pipeline.pipeline.get_pipeline, in the spirit of OCRmyPDF's
test plugins: pages carry a coloured square in their top-left corner that
says what should go wrong; every other page goes to the real pipeline.

    crash   the worker process dies (os._exit), as on a segfault or the OOM killer
    oom     ResourceExhausted on every attempt (a retryable error that never clears)
    flaky   ResourceExhausted on the first attempt only (state in OCR_FAULT_DIR)
    slow    sleeps SLOW_SECONDS first, so tests can act while the page runs

Never used outside tests.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import ResourceExhausted

MARKERS = {
    "crash": (255, 0, 255),
    "oom": (0, 255, 255),
    "flaky": (0, 160, 0),
    "slow": (255, 140, 0),
}
MARKER_BOX = (6, 6, 30, 30)  # x0, y0, x1, y1 of the square drawn by tests.integration.documents
SLOW_SECONDS = float(os.environ.get("OCR_FAULT_SLOW_SECONDS", "4"))


def marker_of(image: Image.Image) -> str | None:
    x0, y0, x1, y1 = MARKER_BOX
    inset = 6  # away from the edges, which JPEG smears
    patch = np.asarray(image.convert("RGB").crop((x0 + inset, y0 + inset, x1 - inset, y1 - inset)), dtype=np.float32)
    mean = patch.reshape(-1, 3).mean(axis=0)
    for name, colour in MARKERS.items():
        if np.all(np.abs(mean - np.array(colour)) < 45):
            return name
    return None


class FaultInjectingPipeline:
    def __init__(self, lang: str):
        self.lang = lang

    def run_page(self, image, page_number: int = 1, detect_orientation: bool = True):
        fault = marker_of(image)
        if fault == "crash":
            os._exit(70)
        if fault == "oom":
            raise ResourceExhausted("Injected: out of memory on this page.")
        if fault == "flaky" and _first_time(image):
            raise ResourceExhausted("Injected: out of memory, once.")
        if fault == "slow":
            time.sleep(SLOW_SECONDS)
        # Built only now: a crashing page must not pay for loading the models first.
        from pipeline.pipeline import get_pipeline

        return get_pipeline(self.lang).run_page(image, page_number, detect_orientation=detect_orientation)


def _first_time(image: Image.Image) -> bool:
    state = Path(os.environ["OCR_FAULT_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    flag = state / hashlib.sha256(image.tobytes()).hexdigest()
    try:
        flag.touch(exist_ok=False)
        return True
    except FileExistsError:
        return False


def get_pipeline(lang: str = "mix") -> FaultInjectingPipeline:
    return FaultInjectingPipeline(lang)
