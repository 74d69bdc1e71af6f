"""The OCR engine: orientation -> pre-processing -> CTPN detection -> reading order -> CRNN recognition.

``Pipeline`` composes stage objects (any callables with the same interface, so
tests can inject their own); ``get_pipeline`` builds the real one from the
shipped models, once per process, language and device.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch
from PIL import Image

from core.errors import InputError, InvalidOption, ResourceExhausted
from core.settings import get_settings
from pipeline.detector import CtpnDetector
from pipeline.draw import draw_detections
from pipeline.models import get_model, resolve_device
from pipeline.orientation import OrientationClassifier
from pipeline.preprocess import Preprocessor, TextScale
from pipeline.reading_order import ReadingOrder
from pipeline.recognizer import CrnnRecognizer, crop_line
from pipeline.result import Document, Line, Page

# The mixed recognizer reads English better than the English-only one, which has seen far
# fewer lines: CER 1.3% vs 2.4% on the lines of training.debian_pdfs.VALIDATION_PDFS' English
# spec at 200 DPI. crnn_en stays in models/ as the stage the mixed model was warm-started from.
RECOGNIZERS = {"mix": "crnn_mix", "zh": "crnn_mix", "en": "crnn_mix"}
NO_TEXT = "no text found"


def to_gray(image: Image.Image | np.ndarray) -> np.ndarray:
    """A page image (PIL, or array (H, W) / (H, W, 3) RGB / (H, W, 4) RGBA) -> uint8 grey (H, W).

    Transparent areas count as white paper.
    """
    if isinstance(image, Image.Image):
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            image = np.asarray(image, dtype=np.float64)  # stretched to 0..255 below
        elif "A" in image.getbands() or "transparency" in image.info:
            image = image.convert("RGBA")
        else:
            image = image.convert("L")
    a = np.asarray(image)
    if a.ndim not in (2, 3) or a.shape[0] == 0 or a.shape[1] == 0 or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise InputError(f"the page image has an unusable shape {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = a.astype(np.float64)
        top = a.max()
        a = np.clip(a * (255.0 if top <= 1.0 else 255.0 / top), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.ascontiguousarray(a)
    if a.shape[2] == 1:
        return np.ascontiguousarray(a[..., 0])
    rgb = a[..., :3].astype(np.float32)
    if a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        rgb = rgb * alpha + 255.0 * (1.0 - alpha)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma, as Pillow's "L"
    return np.clip(gray + 0.5, 0, 255).astype(np.uint8)


def _clip_points(points: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.stack([np.clip(points[:, 0], 0, width), np.clip(points[:, 1], 0, height)], axis=1)


class Pipeline:
    """Runs pages through the stages; all output coordinates are original page pixels.

    Stages: ``orientation(gray) -> (angle, confidence)``,
    ``preprocessor(gray, angle) -> PreparedPage``,
    ``detector(working) -> [DetectedLine]``, ``text_scale([line height]) -> zoom``
    (a zoom above 1 prepares and detects the page again, larger),
    ``reading_order(boxes) -> [index]``, ``recognizer([crop]) -> [Recognition]``.
    """

    def __init__(self, orientation, preprocessor, detector, recognizer, reading_order=None, lang: str = "mix", text_scale=None):
        self.orientation = orientation
        self.preprocessor = preprocessor
        self.detector = detector
        self.recognizer = recognizer
        self.reading_order = reading_order or ReadingOrder()
        self.text_scale = text_scale or TextScale()
        self.lang = lang

    def run_page(self, image: Image.Image | np.ndarray, page_number: int = 1, detect_orientation: bool = True) -> Page:
        """One page image -> Page. Without orientation detection the page is taken as upright
        (angle 0, confidence 1.0)."""
        try:
            return self._run_page(to_gray(image), page_number, detect_orientation)
        except (MemoryError, torch.cuda.OutOfMemoryError) as exc:
            raise ResourceExhausted(f"out of memory on page {page_number}: {exc}") from None
        except RuntimeError as exc:
            if "can't allocate memory" not in str(exc):  # torch's CPU allocator says so this way
                raise
            raise ResourceExhausted(f"out of memory on page {page_number}: {exc}") from None

    def _run_page(self, gray: np.ndarray, page_number: int, detect_orientation: bool) -> Page:
        height, width = gray.shape
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round(now - clock, 4)
            clock = now

        angle, angle_confidence = self.orientation(gray) if detect_orientation else (0, 1.0)
        lap("orientation")
        prepared = self.preprocessor(gray, angle)
        lap("preprocess")
        detected = [d for d in self.detector(prepared.working) if self._inside(d.bbox, prepared.geometry.working_size)]
        zoom = self.text_scale([d.bbox[3] - d.bbox[1] for d in detected])
        if zoom > 1.0:
            larger = self.preprocessor(gray, angle, zoom=zoom)
            if larger.geometry.working_size != prepared.geometry.working_size:
                prepared = larger
                detected = [d for d in self.detector(prepared.working) if self._inside(d.bbox, prepared.geometry.working_size)]
        geometry = prepared.geometry
        detected = [detected[i] for i in self.reading_order([d.bbox for d in detected])]
        lap("detection")
        crops = [crop_line(prepared.upright, geometry.working_to_upright(d.polygon)) for d in detected]
        recognitions = self.recognizer(crops) if crops else []
        lap("recognition")

        lines = []
        for det, rec in zip(detected, recognitions, strict=True):
            if not rec.text.strip():
                continue
            polygon = _clip_points(geometry.working_to_original(det.polygon.astype(np.float64)), width, height)
            x0, y0 = polygon.min(axis=0)
            x1, y1 = polygon.max(axis=0)
            lines.append(
                Line(
                    text=rec.text,
                    confidence=round(float(rec.confidence), 4),
                    polygon=[(round(float(x), 1), round(float(y), 1)) for x, y in polygon],
                    bbox=(round(float(x0), 1), round(float(y0), 1), round(float(x1), 1), round(float(y1), 1)),
                    char_confidences=[round(float(c), 4) for c in rec.char_confidences],
                )
            )
        return Page(
            page_number=page_number,
            width=width,
            height=height,
            angle=int(angle),
            angle_confidence=round(float(angle_confidence), 4),
            lines=lines,
            skew=float(geometry.skew),
            timings=timings,
            warnings=[] if lines else [NO_TEXT],
        )

    @staticmethod
    def _inside(bbox, size: tuple[int, int]) -> bool:
        """Whether a detection's centre lies on the page rather than in the working image's padding."""
        cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
        return 0 <= cx <= size[0] and 0 <= cy <= size[1]

    def run_document(self, data: bytes, pages: str | None = None, dpi: int | None = None) -> Document:
        """An image or PDF file's bytes -> Document of the selected pages (``pages`` like "1-3,5")."""
        from pipeline.loader import iter_pages  # the loader is only needed for whole documents

        document = Document(lang=self.lang)
        for number, image in iter_pages(data, pages, dpi or get_settings().pdf_dpi):
            document.pages.append(self.run_page(image, page_number=number))
        return document

    def draw_detections(self, image: Image.Image | np.ndarray, page: Page) -> Image.Image:
        return draw_detections(image, page)


def build_pipeline(lang: str = "mix", device: str | None = None) -> Pipeline:
    """A new Pipeline on the shipped models (the networks themselves are shared per process)."""
    if lang not in RECOGNIZERS:
        raise InvalidOption(f"lang must be one of {', '.join(sorted(RECOGNIZERS))}, not {lang!r}")
    device = resolve_device(device)
    orientation = get_model("orientation", device)
    ctpn = get_model("ctpn", device)
    crnn = get_model(RECOGNIZERS[lang], device)
    return Pipeline(
        orientation=OrientationClassifier(orientation.net, device),
        preprocessor=Preprocessor(),
        detector=CtpnDetector.from_card(ctpn.net, ctpn.card, device),
        recognizer=CrnnRecognizer(crnn.net, crnn.charset, device, script="latin" if lang == "en" else "any"),
        lang=lang,
    )


@functools.cache
def _cached_pipeline(lang: str, device: str) -> Pipeline:
    return build_pipeline(lang, device)


def get_pipeline(lang: str = "mix", device: str | None = None) -> Pipeline:
    """The process's Pipeline for ``lang`` (zh | en | mix) on ``device`` (None: Settings.device)."""
    if lang not in RECOGNIZERS:
        raise InvalidOption(f"lang must be one of {', '.join(sorted(RECOGNIZERS))}, not {lang!r}")
    return _cached_pipeline(lang, resolve_device(device))
