"""The OCR engine: orientation -> pre-processing -> CTPN detection -> reading order -> CRNN recognition.

``Pipeline`` composes stage objects (any callables with the same interface, so
tests can inject their own); ``get_pipeline`` builds the real one from the
shipped models, once per process, language, runtime and device. On the ONNX
runtime (pipeline/runtime.py) nothing here imports torch.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from core.errors import InputError, InvalidOption, ResourceExhausted
from core.settings import get_settings
from pipeline.charlm import get_decoder
from pipeline.ctc import line_confidence
from pipeline.detector import CtpnDetector
from pipeline.geometry import PageGeometry
from pipeline.large_text import LARGE_TEXT_LOOKS
from pipeline.leftovers import FOUND_BY as LEFTOVER
from pipeline.leftovers import Leftovers
from pipeline.light_text import FOUND_BY as ON_NEGATIVE
from pipeline.light_text import LightText
from pipeline.orientation import OrientationClassifier
from pipeline.photo_lines import PhotoLines
from pipeline.preprocess import PreparedPage, Preprocessor, TextScale
from pipeline.reading_order import ReadingOrder
from pipeline.recognizer import CrnnRecognizer, LineFrame, Recognition, line_frame, warp_line
from pipeline.result import Block, Document, Line, Page, Word, bbox_of
from pipeline.runtime import resolve_runtime
from pipeline.words import PlacedWord, place_words, split_at_gaps

# The mixed recognizer reads English better than the English-only one, which has seen far
# fewer lines: CER 1.3% vs 2.4% on the lines of training.debian_pdfs.VALIDATION_PDFS' English
# spec at 200 DPI. crnn_en stays in models/ as the stage the mixed model was warm-started from.
RECOGNIZERS = {"mix": "crnn_mix", "zh": "crnn_mix", "en": "crnn_mix"}
# A detected line is split where a blank between two of its words is wider than this many line
# heights: form labels and their values, table cells chained into one line (see Pipeline._lines).
SPLIT_GAP = 2.0
# ...and a word ending in a colon from a next word more than this many line heights away: a form's
# label and its field ("Company:   B.A.T. CYPRUS"), which readers of forms take as two. On our
# validation split of the real sets (2026-11-30): FUNSD forms line H-mean 0.786 -> 0.804, SROIE
# receipts 0.847 -> 0.848 (their labels keep their values closer), validation PDFs unchanged;
# at 0.6 forms 0.811 but receipts 0.827, at 0.3 forms 0.825, receipts 0.811 and the PDFs 0.890.
LABEL_GAP = 1.0
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


def _out_of_memory(exc: Exception) -> bool:
    """Whether a runtime ran out of memory: MemoryError, torch.cuda.OutOfMemoryError (told by name, so
    that the ONNX path need not import torch), torch's CPU allocator and ONNX Runtime's arena by message."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    message = str(exc)
    return "can't allocate memory" in message or "Failed to allocate memory" in message


def _page_points(points: np.ndarray, geometry: PageGeometry) -> list[tuple[float, float]]:
    """Points clipped to the original page, rounded to a tenth of a pixel."""
    width, height = geometry.original_size
    return [
        (round(min(max(x, 0.0), width), 1), round(min(max(y, 0.0), height), 1))
        for x, y in np.asarray(points, dtype=np.float64).tolist()
    ]


def _page_error(exc: Exception, page_number: int) -> Exception:
    """What a page's failure is reported as: running out of memory as ResourceExhausted, else itself."""
    return ResourceExhausted(f"out of memory on page {page_number}: {exc}") if _out_of_memory(exc) else exc


@dataclass
class _PageWork:
    """One page on its way through the stages (run_page and run_pages share the steps)."""

    gray: np.ndarray
    page_number: int
    angle: int
    angle_confidence: float
    prepared: PreparedPage
    timings: dict[str, float] = field(default_factory=dict)
    detected: list = field(default_factory=list)
    zoomed: bool = False
    groups: list[range] = field(default_factory=list)
    frames: list[LineFrame | None] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    recognitions: list[Recognition] = field(default_factory=list)
    page: Page | None = None
    error: Exception | None = None


def _each_page(works: list[_PageWork], step, raise_errors: bool) -> list[_PageWork]:
    """``step(work)`` on each page not failed yet; a page whose step raises keeps the error (or it is
    raised, with ``raise_errors``). Returns the pages still going."""
    for work in works:
        if work.error is None:
            try:
                step(work)
            except Exception as exc:
                if raise_errors:
                    raise
                work.error = exc
    return [w for w in works if w.error is None]


def _share(works: list[_PageWork], stage: str, seconds: float) -> None:
    """A shared call's time, in equal parts, into each page's timings."""
    for work in works:
        work.timings[stage] = round(seconds / max(len(works), 1), 4)


class Pipeline:
    """Runs pages through the stages; all output coordinates are original page pixels.

    Stages: ``orientation(gray) -> (angle, confidence)``,
    ``preprocessor(gray, angle) -> PreparedPage``,
    ``detector(working) -> [DetectedLine]``, ``text_scale([line height]) -> zoom``
    (a zoom above 1 prepares and detects the page again, larger),
    ``large_text``: one look or several (default pipeline.large_text.LARGE_TEXT_LOOKS, half
    then quarter size), each ``shrink(working) -> small image``, ``merge(found, found_small)
    -> [DetectedLine]`` and ``keep(text, confidence)`` for the lines it marked ``found_by``
    (looks at a smaller copy for letters too tall for the detector's view; ``large_text=False``
    turns them off),
    ``light_text.needed(working)``, ``.negative(working)`` and ``.merge(found, found_negative)``
    (a look at the negative of a page with dark ground, for light lettering, also through the
    large-text looks when ``light_text.large``; its lines are kept after recognition only when
    ``light_text.keep(text, confidence)``; ``light_text=False`` turns it off),
    ``photo_lines.applies(working)`` and ``.keep(text, confidence)`` (on a photo, a line is kept
    only when it reads as text with confidence; ``photo_lines=False`` keeps every line),
    ``leftovers(working, [DetectedLine]) -> [DetectedLine]`` (candidates for text the
    detector left out, kept after recognition only when ``leftovers.keep(text, confidence)``;
    ``leftovers=False`` turns the stage off),
    ``reading_order.blocks(boxes) -> [[index]]`` (blocks of lines in reading order),
    ``recognizer([crop]) -> [Recognition]``; words are placed from each Recognition's
    CTC alignment (pipeline/words.py).
    """

    def __init__(
        self,
        orientation,
        preprocessor,
        detector,
        recognizer,
        reading_order=None,
        lang: str = "mix",
        text_scale=None,
        leftovers=None,
        split_gap: float | None = SPLIT_GAP,
        large_text=None,
        label_gap: float | None = LABEL_GAP,
        light_text=None,
        photo_lines=None,
    ):
        self.orientation = orientation
        self.preprocessor = preprocessor
        self.detector = detector
        self.recognizer = recognizer
        self.reading_order = reading_order or ReadingOrder()
        self.text_scale = text_scale or TextScale()
        self.leftovers = Leftovers() if leftovers is None else leftovers
        if large_text is None:
            large_text = LARGE_TEXT_LOOKS
        # one look or several (smallest last: each adds only what the looks before it left)
        self.large_text = tuple(large_text) if isinstance(large_text, (list, tuple)) else ((large_text,) if large_text else ())
        self.light_text = LightText() if light_text is None else light_text
        self.photo_lines = PhotoLines() if photo_lines is None else photo_lines
        self.split_gap = split_gap
        self.label_gap = label_gap
        self.lang = lang

    def run_page(self, image: Image.Image | np.ndarray, page_number: int = 1, detect_orientation: bool = True) -> Page:
        """One page image -> Page. Without orientation detection the page is taken as upright
        (angle 0, confidence 1.0)."""
        try:
            return self._run_page(to_gray(image), page_number, detect_orientation)
        except Exception as exc:
            if not _out_of_memory(exc):
                raise
            raise _page_error(exc, page_number) from None

    def _run_page(self, gray: np.ndarray, page_number: int, detect_orientation: bool) -> Page:
        work = self._prepare(gray, page_number, detect_orientation)
        self._detect([work], raise_errors=True)
        self._recognize([work], raise_errors=True)
        return self._assemble(work)

    def run_pages(
        self,
        images: list[Image.Image | np.ndarray],
        page_numbers: list[int] | None = None,
        detect_orientation: bool = True,
    ) -> list[Page | Exception]:
        """Several page images -> for each, its Page (what ``run_page`` gives for it) or the exception
        that page raised (ResourceExhausted for running out of memory, as run_page); a failing page
        does not fail the others.

        Orientation and pre-processing run page by page; the detector gets the pages together
        (``detect_batch``: pages of the same working size share a forward pass; a detector stage
        without it is called per page); the recognizer gets every page's lines in one call, so its
        width-bucketed batches mix lines of several pages. The CRNN's BiLSTM also reads the padding
        of its batch, so a line's confidences (very rarely its text) may differ in the last digits
        from run_page's. When a shared call fails, its pages are run one by one so that the error
        lands on the page that caused it. Each page's ``timings`` for detection and recognition are
        its share (an equal part) of the shared calls' time.
        """
        numbers = list(page_numbers) if page_numbers is not None else list(range(1, len(images) + 1))
        if len(numbers) != len(images):
            raise InvalidOption(f"{len(images)} images but {len(numbers)} page numbers")
        results: list[Page | Exception] = []
        works: list[_PageWork] = []
        for image, number in zip(images, numbers, strict=True):
            try:
                works.append(self._prepare(to_gray(image), number, detect_orientation))
                results.append(None)  # filled in below
            except Exception as exc:
                results.append(_page_error(exc, number))
        slots = [i for i, r in enumerate(results) if r is None]
        self._detect(works, raise_errors=False)
        self._recognize([w for w in works if w.error is None], raise_errors=False)
        for slot, work in zip(slots, works, strict=True):
            if work.error is None:
                _each_page([work], lambda w: setattr(w, "page", self._assemble(w)), raise_errors=False)
            results[slot] = work.page if work.error is None else _page_error(work.error, work.page_number)
        return results

    def _prepare(self, gray: np.ndarray, page_number: int, detect_orientation: bool) -> _PageWork:
        """Orientation and pre-processing of one page."""
        clock = time.perf_counter()
        angle, angle_confidence = self.orientation(gray) if detect_orientation else (0, 1.0)
        lapped = time.perf_counter()
        prepared = self.preprocessor(gray, angle)
        work = _PageWork(gray, page_number, angle, angle_confidence, prepared)
        work.timings["orientation"] = round(lapped - clock, 4)
        work.timings["preprocess"] = round(time.perf_counter() - lapped, 4)
        return work

    def _detect_each(self, works: list[_PageWork], raise_errors: bool, images: list[np.ndarray] | None = None) -> list[list]:
        """The detector over the pages' working images (or ``images``, one per page): together when
        the stage can, else (or when the shared call fails) page by page; a page whose detection
        failed gets its error set. Lines in the images' pixels."""
        images = [w.prepared.working for w in works] if images is None else images
        batch = getattr(self.detector, "detect_batch", None)
        if batch is not None and len(works) > 1:
            try:
                return list(batch(images))
            except Exception:
                pass  # again page by page, so that the error lands on its page
        found = []
        for work, image in zip(works, images, strict=True):
            try:
                found.append(self.detector(image))
            except Exception as exc:
                if raise_errors:
                    raise
                work.error = exc
                found.append([])
        return found

    def _on_page(self, work: _PageWork, detected) -> list:
        """Detections whose centre lies on the page rather than in the working image's padding."""
        width, height = work.prepared.geometry.working_size
        return [d for d in detected if self._inside(d.bbox, (width, height))]

    def _detect(self, works: list[_PageWork], raise_errors: bool) -> None:
        """Detection, a second look at pages of small text (``text_scale``), and reading order."""
        clock = time.perf_counter()
        works = [w for w in works if w.error is None]
        for work, detected in zip(works, self._detect_each(works, raise_errors), strict=True):
            work.detected = self._on_page(work, detected)
        again = [w for w in _each_page(works, self._zoom, raise_errors) if w.zoomed]
        for work, detected in zip(again, self._detect_each(again, raise_errors), strict=True):
            work.detected = self._on_page(work, detected)
        for look in self.large_text:
            going = [w for w in works if w.error is None]
            small = [look.shrink(w.prepared.working) for w in going]
            for work, detected in zip(going, self._detect_each(going, raise_errors, small), strict=True):
                if work.error is None:
                    work.detected = self._on_page(work, look.merge(work.detected, detected))
        if self.light_text:
            going = [w for w in works if w.error is None and self.light_text.needed(w.prepared.working)]
            negatives = [self.light_text.negative(w.prepared.working) for w in going]
            for work, detected in zip(going, self._detect_each(going, raise_errors, negatives), strict=True):
                if work.error is None:
                    work.detected = self._on_page(work, self.light_text.merge(work.detected, detected))
            # light lettering too tall for the full-size look: the large-text looks at the negative
            for look in self.large_text if self.light_text.large else ():
                small = [look.shrink(negative) for negative in negatives]
                for work, detected in zip(going, self._detect_each(going, raise_errors, small), strict=True):
                    if work.error is None:
                        tall = look.merge([], detected)  # the look's tall lines, in working pixels
                        work.detected = self._on_page(work, self.light_text.merge(work.detected, tall))
        if self.leftovers:
            _each_page(works, self._add_leftovers, raise_errors)
        _each_page(works, self._in_reading_order, raise_errors)
        _share(works, "detection", time.perf_counter() - clock)

    def _zoom(self, work: _PageWork) -> None:
        """A page whose text is small at working size is prepared again, larger, to be detected again."""
        zoom = self.text_scale([d.bbox[3] - d.bbox[1] for d in work.detected])
        if zoom > 1.0:
            larger = self.preprocessor(work.gray, work.angle, zoom=zoom)
            if larger.geometry.working_size != work.prepared.geometry.working_size:
                work.prepared = larger
                work.zoomed = True

    def _add_leftovers(self, work: _PageWork) -> None:
        """Candidate lines of ink the detector left out; ``_assemble`` keeps those that read as text."""
        work.detected = work.detected + self.leftovers(work.prepared.working, work.detected)

    def _in_reading_order(self, work: _PageWork) -> None:
        """The recognizer is handed the lines in reading order, block after block."""
        in_blocks = self.reading_order.blocks([d.bbox for d in work.detected])
        work.detected = [work.detected[i] for block in in_blocks for i in block]
        ends = np.cumsum([len(block) for block in in_blocks], dtype=int)
        work.groups = [range(end - len(block), end) for block, end in zip(in_blocks, ends, strict=True)]

    def _recognize(self, works: list[_PageWork], raise_errors: bool) -> None:
        """Crops of every page's lines, read in one recognizer call (page by page if that fails, or
        when the recognizer reads pages apart: an int8 graph)."""
        clock = time.perf_counter()
        works = _each_page(works, self._crop, raise_errors)
        if getattr(self.recognizer, "reads_pages_apart", False):
            _each_page(works, self._read, raise_errors)
            _share(works, "recognition", time.perf_counter() - clock)
            return
        crops = [crop for work in works for crop in work.crops]
        try:
            recognitions = self.recognizer(crops) if crops else []
        except Exception:
            if raise_errors:
                raise
            _each_page(works, self._read, raise_errors)  # again page by page, so that the error lands on its page
        else:
            ends = np.cumsum([len(work.crops) for work in works], dtype=int)
            for work, end in zip(works, ends, strict=True):
                work.recognitions = recognitions[end - len(work.crops) : end]
        _share(works, "recognition", time.perf_counter() - clock)

    @staticmethod
    def _crop(work: _PageWork) -> None:
        geometry = work.prepared.geometry
        work.frames = [line_frame(geometry.working_to_upright(d.polygon)) for d in work.detected]
        work.crops = [warp_line(work.prepared.upright, f) if f else np.zeros((0, 0), np.uint8) for f in work.frames]

    def _read(self, work: _PageWork) -> None:
        work.recognitions = self.recognizer(work.crops) if work.crops else []

    def _assemble(self, work: _PageWork) -> Page:
        geometry = work.prepared.geometry
        detected, recognitions, crops, frames = work.detected, work.recognitions, work.crops, work.frames
        photo = bool(self.photo_lines) and bool(detected) and self.photo_lines.applies(work.prepared.working)
        blocks = []
        for group in work.groups:
            group = [i for i in group if recognitions[i].text.strip() and self._kept(detected[i], recognitions[i], photo)]
            lines = [line for i in group for line in self._lines(detected[i], recognitions[i], crops[i], frames[i], geometry)]
            if lines:
                x0, y0 = np.min([detected[i].bbox[:2] for i in group], axis=0)
                x1, y1 = np.max([detected[i].bbox[2:] for i in group], axis=0)
                corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
                blocks.append(Block.of_lines(lines, _page_points(geometry.working_to_original(corners), geometry)))
        height, width = work.gray.shape
        return Page(
            page_number=work.page_number,
            width=width,
            height=height,
            angle=int(work.angle),
            angle_confidence=round(float(work.angle_confidence), 4),
            blocks=blocks,
            skew=float(geometry.skew),
            timings=work.timings,
            warnings=[] if blocks else [NO_TEXT],
        )

    def _kept(self, det, rec: Recognition, photo: bool = False) -> bool:
        if det.found_by == LEFTOVER:
            kept = self.leftovers.keep(rec.text, rec.confidence)
        elif det.found_by == ON_NEGATIVE:
            kept = self.light_text.keep(rec.text, rec.confidence)
        else:
            kept = all(look.keep(rec.text, rec.confidence) for look in self.large_text if det.found_by == look.found_by)
        return kept and (not photo or self.photo_lines.keep(rec.text, rec.confidence))

    def _lines(self, det, rec: Recognition, crop: np.ndarray, frame: LineFrame | None, geometry: PageGeometry) -> list[Line]:
        """The detected line as read, or several lines where its words lie far apart (``split_gap``)."""
        polygon = _page_points(geometry.working_to_original(det.polygon.astype(np.float64)), geometry)
        placed = []
        if frame is not None:
            placed = place_words(rec.text, rec.char_confidences, rec.char_frames, rec.px_per_frame, crop, frame.band)
        runs = [placed]
        if self.split_gap is not None and len(placed) > 1:
            runs = split_at_gaps(placed, frame.band[1] - frame.band[0], self.split_gap, rec.text, self.label_gap)
        if len(runs) == 1:
            return [self._line(rec.text, rec.char_confidences, rec.confidence, polygon, placed, frame, geometry)]
        out = []
        for run in runs:
            first, end = run[0].first, run[-1].end
            confidences = list(rec.char_confidences[first:end])
            # the run's own stretch of the crop, between the detected line's top and bottom edges
            x0, x1 = run[0].box[0], run[-1].box[2]
            top, bottom = frame.band
            corners = frame.to_upright([(x0, top), (x1, top), (x1, bottom), (x0, bottom)])
            run_polygon = _page_points(geometry.upright_to_original(corners), geometry)
            shifted = [PlacedWord(w.first - first, w.end - first, w.confidence, w.box) for w in run]
            text = rec.text[first:end]
            out.append(self._line(text, confidences, line_confidence(confidences), run_polygon, shifted, frame, geometry))
        return out

    @staticmethod
    def _line(text, char_confidences, confidence, polygon, placed, frame, geometry: PageGeometry) -> Line:
        words = []
        for p in placed:
            x0, y0, x1, y1 = p.box
            upright = frame.to_upright([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
            word_polygon = _page_points(geometry.upright_to_original(upright), geometry)
            words.append(Word(text[p.first : p.end], p.confidence, word_polygon, bbox_of(word_polygon)))
        return Line(
            text=text,
            confidence=round(float(confidence), 4),
            polygon=polygon,
            bbox=bbox_of(polygon),
            char_confidences=[round(float(c), 4) for c in char_confidences],
            words=words,
        )

    @staticmethod
    def _inside(bbox, size: tuple[int, int]) -> bool:
        """Whether a detection's centre lies on the page rather than in the working image's padding."""
        cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
        return 0 <= cx <= size[0] and 0 <= cy <= size[1]

    def run_document(self, data: bytes, pages: str | None = None, dpi: int | None = None) -> Document:
        """An image or PDF file's bytes -> Document of the selected pages (``pages`` like "1-3,5"),
        numbered from 1 in the document, each with its ``source_page`` in the file."""
        from pipeline.loader import iter_pages  # the loader is only needed for whole documents

        document = Document(lang=self.lang)
        for index, (number, image) in enumerate(iter_pages(data, pages, dpi or get_settings().pdf_dpi), start=1):
            page = self.run_page(image, page_number=index)
            page.source_page = number
            document.pages.append(page)
        return document

    def draw_detections(self, image: Image.Image | np.ndarray, page: Page) -> Image.Image:
        from pipeline.draw import draw_detections  # PIL.ImageDraw: 12 ms of a cold `ocr run` that draws nothing

        return draw_detections(image, page)


def runtime_and_device(device: str | None, runtime: str | None) -> tuple[str, str]:
    """(runtime, device) the networks run on; the ONNX runtime is the CPU's."""
    runtime = resolve_runtime(runtime, device)
    if runtime == "onnx":
        return runtime, "cpu"
    from pipeline.models import resolve_device

    return runtime, resolve_device(device)


def build_pipeline(lang: str = "mix", device: str | None = None, runtime: str | None = None) -> Pipeline:
    """A new Pipeline on the shipped models (the networks themselves are shared per process).

    ``runtime``: auto | torch | onnx (None: Settings.runtime, OCR_RUNTIME); see pipeline/runtime.py.
    """
    if lang not in RECOGNIZERS:
        raise InvalidOption(f"lang must be one of {', '.join(sorted(RECOGNIZERS))}, not {lang!r}")
    runtime, device = runtime_and_device(device, runtime)
    if runtime == "onnx":
        from pipeline.onnx_models import get_onnx_model as load
    else:
        from pipeline.models import get_model

        def load(name):
            return get_model(name, device)

    orientation = load("orientation")
    ctpn = load("ctpn")
    crnn = load(RECOGNIZERS[lang])
    return Pipeline(
        orientation=OrientationClassifier(orientation.net, device),
        preprocessor=Preprocessor(),
        detector=CtpnDetector.from_card(ctpn.net, ctpn.card, device),
        recognizer=CrnnRecognizer(
            crnn.net,
            crnn.charset,
            device,
            script="latin" if lang == "en" else "any",
            decoder=get_decoder(crnn.charset.chars),
        ),
        lang=lang,
    )


@functools.cache
def _cached_pipeline(lang: str, device: str, runtime: str) -> Pipeline:
    return build_pipeline(lang, device, runtime)


def get_pipeline(lang: str = "mix", device: str | None = None, runtime: str | None = None) -> Pipeline:
    """The process's Pipeline for ``lang`` (zh | en | mix) on ``device`` (None: Settings.device) and
    ``runtime`` (None: Settings.runtime)."""
    if lang not in RECOGNIZERS:
        raise InvalidOption(f"lang must be one of {', '.join(sorted(RECOGNIZERS))}, not {lang!r}")
    runtime, device = runtime_and_device(device, runtime)
    return _cached_pipeline(lang, device, runtime)
