"""The OCR engines the benchmark compares, behind one interface.

``run(image, lang) -> [TextLine]`` reads a page (lines with polygons in page pixels),
``recognize(crops, lang, kind) -> [str]`` reads cropped words or lines (grey arrays),
``orientation(image) -> angle | None`` gives the page's clockwise rotation (None: cannot tell).

* ``ours``: this project's pipeline (orientation -> CTPN -> CRNN).
* ``tesseract``: Tesseract 5 through its command line, one thread (OMP_THREAD_LIMIT=1).
* ``rapidocr``: PP-OCRv4 through PyPI rapidocr-onnxruntime, whose wheel carries the ONNX models.
* ``ppocrv6``: PP-OCRv6 small through PyPI rapidocr 3.x, whose wheel carries the ONNX models
  (pinned in the bench extra of pyproject.toml). Both RapidOCR packages install side by side: different
  import names, and pip finds their requirements compatible.

Tesseract and RapidOCR are references for the benchmark only; nothing outside
``bench/`` may import or call them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from bench.metrics import TextLine, box_to_polygon

TESSERACT_LANGS = {"en": "eng", "zh": "chi_sim+eng", "mix": "chi_sim+eng"}
TESSERACT_PSM = {"word": "8", "line": "7"}
# PP-OCR's line-direction classifier (mobile v2, in both RapidOCR packages) turns upright lines of
# these pages upside down often enough to cost several points of CER (2-page trial, PP-OCRv6:
# Traditional 100 DPI 8.9% -> 0.2%, English 3.1% -> 0.7%; PP-OCRv4: English 4.1% -> 1.4%). Every
# benchmark page is upright, so the references run without it and are measured at their best.
REFERENCE_LINE_CLASSIFIER = False


class EngineUnavailable(RuntimeError):
    """The engine cannot run on this machine (missing binary, package or models)."""


def warm_up_page() -> Image.Image:
    """A small page with a few dark bars, enough to exercise every stage once."""
    page = Image.new("L", (640, 480), 255)
    draw = ImageDraw.Draw(page)
    for k in range(6):
        draw.rectangle((40, 40 + 60 * k, 600, 64 + 60 * k), fill=30)
    return page


class OursEngine:
    name = "ours"
    title = "ours"

    def __init__(self, device: str | None = None):
        self.device = device
        self._warm: set[str] = set()

    def _pipeline(self, lang: str):
        from pipeline.pipeline import get_pipeline

        return get_pipeline(lang, self.device)

    def warm_up(self, lang: str) -> None:
        """Load the models and run each stage once: torch's first call costs seconds, not part of a page."""
        if lang in self._warm:
            return
        try:
            pipeline = self._pipeline(lang)
            pipeline.run_page(warm_up_page(), detect_orientation=True)
            pipeline.recognizer([np.full((32, 128), 255, np.uint8)])
        except Exception as exc:  # a missing or broken model: report it, run the other engines
            raise EngineUnavailable(f"pipeline for {lang!r} does not load or run: {exc}") from exc
        self._warm.add(lang)

    def run(self, image: Image.Image, lang: str) -> list[TextLine]:
        page = self._pipeline(lang).run_page(image, page_number=1, detect_orientation=True)
        return [TextLine([tuple(p) for p in line.polygon], line.text) for line in page.lines]

    def recognize(self, crops: list[np.ndarray], lang: str, kind: str) -> list[str]:
        return [r.text for r in self._pipeline(lang).recognizer(crops)]

    def orients(self) -> bool:
        return True

    def orientation(self, image: Image.Image) -> int | None:
        from pipeline.pipeline import to_gray

        angle, _ = self._pipeline("mix").orientation(to_gray(image))
        return int(angle)

    def describe(self) -> str:
        from pipeline.pipeline import runtime_and_device

        runtime, device = runtime_and_device(self.device, None)
        return f"this project's pipeline on {device} ({'ONNX Runtime' if runtime == 'onnx' else 'PyTorch'})"


class TesseractEngine:
    name = "tesseract"
    title = "Tesseract"

    def __init__(self, binary: str = "tesseract"):
        self.binary = shutil.which(binary) or binary
        self.env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def _langs(self) -> set[str]:
        out = subprocess.run([self.binary, "--list-langs"], capture_output=True, text=True, env=self.env)
        return {row.strip() for row in out.stdout.splitlines()[1:] if row.strip()}

    def warm_up(self, lang: str) -> None:
        if shutil.which(self.binary) is None:
            raise EngineUnavailable("the tesseract binary is not installed (Debian: tesseract-ocr)")
        missing = set(TESSERACT_LANGS[lang].split("+")) - self._langs()
        if missing:
            raise EngineUnavailable(
                f"Tesseract lacks {', '.join(sorted(missing))} traineddata (Debian: tesseract-ocr-chi-sim, tesseract-ocr-eng)"
            )

    def _call(self, args: list[str]) -> str:
        done = subprocess.run([self.binary, *args], capture_output=True, text=True, env=self.env)
        if done.returncode != 0:
            raise RuntimeError(f"tesseract {' '.join(args[1:])} failed: {done.stderr.strip()[-300:]}")
        return done.stdout

    def run(self, image: Image.Image, lang: str) -> list[TextLine]:
        with tempfile.TemporaryDirectory(prefix="bench-tess-") as tmp:
            path = Path(tmp) / "page.png"
            image.save(path)
            return parse_tsv(self._call([str(path), "-", "-l", TESSERACT_LANGS[lang], "tsv"]))

    def recognize(self, crops: list[np.ndarray], lang: str, kind: str) -> list[str]:
        """All crops in one process: Tesseract reads a list file and ends each page's text with a form feed."""
        if not crops:
            return []
        with tempfile.TemporaryDirectory(prefix="bench-tess-") as tmp:
            paths = []
            for k, crop in enumerate(crops):
                paths.append(Path(tmp) / f"{k:05d}.png")
                cv2.imwrite(str(paths[-1]), crop)
            listing = Path(tmp) / "list.txt"
            listing.write_text("\n".join(str(p) for p in paths) + "\n")
            out = self._call([str(listing), "-", "-l", TESSERACT_LANGS[lang], "--psm", TESSERACT_PSM[kind]])
        texts = out.split("\f")[: len(crops)]
        if len(texts) != len(crops):
            raise RuntimeError(f"tesseract returned {len(texts)} pages for {len(crops)} crops")
        return [t.strip() for t in texts]

    def orients(self) -> bool:
        """Tesseract reads page orientation only with its OSD traineddata (Debian: tesseract-ocr-osd)."""
        return shutil.which(self.binary) is not None and "osd" in self._langs()

    def orientation(self, image: Image.Image) -> int | None:
        """Tesseract OSD's "Orientation in degrees": the clockwise rotation of the page as given."""
        with tempfile.TemporaryDirectory(prefix="bench-tess-") as tmp:
            path = Path(tmp) / "page.png"
            image.save(path)
            done = subprocess.run([self.binary, str(path), "-", "--psm", "0"], capture_output=True, text=True, env=self.env)
        found = re.search(r"Orientation in degrees:\s*(\d+)", done.stdout + done.stderr)
        return int(found.group(1)) % 360 if found else None  # too little text: no answer

    def describe(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        first = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "tesseract"
        return f"{first}, OMP_THREAD_LIMIT=1, default page segmentation (psm 3) for pages"


def parse_tsv(tsv: str) -> list[TextLine]:
    """Tesseract TSV -> lines: words (level 5) with text grouped by (block, paragraph, line).

    The line box is the union of its words' boxes; Tesseract's own line box also
    covers blank "words" such as rules and would overstate the line.
    """
    groups: dict[tuple[int, int, int], list[tuple[int, int, int, int, str]]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        block, par, line = int(cols[2]), int(cols[3]), int(cols[4])
        left, top, width, height = (int(c) for c in cols[6:10])
        groups.setdefault((block, par, line), []).append((left, top, left + width, top + height, cols[11].strip()))
    lines = []
    for words in groups.values():
        box = (min(w[0] for w in words), min(w[1] for w in words), max(w[2] for w in words), max(w[3] for w in words))
        lines.append(TextLine(box_to_polygon(*box), " ".join(w[4] for w in words)))
    return lines


class RapidOcrEngine:
    name = "rapidocr"
    title = "PP-OCRv4"

    def __init__(self):
        self._engine = None

    def _get(self):
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise EngineUnavailable(
                    "rapidocr-onnxruntime is not installed (pip install -c requirements.lock -e '.[bench]')"
                ) from exc
            self._engine = RapidOCR()
        return self._engine

    def warm_up(self, lang: str) -> None:
        if self._engine is None:
            self._get()(self._bgr(warm_up_page()))  # onnxruntime's first run is slow

    @staticmethod
    def _bgr(image: Image.Image | np.ndarray) -> np.ndarray:
        a = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR if a.ndim == 2 else cv2.COLOR_RGB2BGR)

    def run(self, image: Image.Image, lang: str) -> list[TextLine]:
        result, _ = self._get()(self._bgr(image), use_cls=REFERENCE_LINE_CLASSIFIER)
        return [TextLine([(float(x), float(y)) for x, y in box], text) for box, text, _score in (result or [])]

    def recognize(self, crops: list[np.ndarray], lang: str, kind: str) -> list[str]:
        texts = []
        for crop in crops:
            result, _ = self._get()(self._bgr(crop), use_det=False, use_cls=False, use_rec=True)
            texts.append(result[0][0] if result else "")
        return texts

    def orients(self) -> bool:
        return False  # PP-OCR's classifier tells 0 from 180 per line only, not a page's rotation

    def orientation(self, image: Image.Image) -> int | None:
        return None

    def describe(self) -> str:
        from importlib.metadata import version

        cls = "mobile v2 line classifier" if REFERENCE_LINE_CLASSIFIER else "no line classifier"
        return f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')} (PP-OCRv4 det/rec, {cls}), onnxruntime default threads"


# The files rapidocr 3.x loads for its default pipeline (PP-OCRv6 small det/rec, the mobile v2
# line-direction classifier), all inside its wheel. Left to itself, rapidocr resolves models by name
# and downloads whatever is not in its package folder; naming the files pins exactly these (the
# classifier too, though it is off: turning it on must not fetch one either).
PPOCRV6_MODELS = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


class DownloadRefused(EngineUnavailable):
    """rapidocr tried to fetch a file: the benchmark runs offline and must measure the shipped models."""


def _refuse_download(cls, params) -> None:
    raise DownloadRefused(f"rapidocr tried to download {params.file_url}; the benchmark only runs models shipped in the wheel")


class PpOcrV6Engine:
    name = "ppocrv6"
    title = "PP-OCRv6"

    def __init__(self):
        self._engine = None

    @staticmethod
    def model_dir() -> Path:
        try:
            import rapidocr
        except ImportError as exc:
            raise EngineUnavailable("rapidocr is not installed (pip install -c requirements.lock -e '.[bench]')") from exc
        return Path(rapidocr.__file__).parent / "models"

    @classmethod
    def model_paths(cls) -> dict[str, Path]:
        folder = cls.model_dir()
        paths = {stage: folder / file for stage, file in PPOCRV6_MODELS.items()}
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            raise EngineUnavailable(
                f"the installed rapidocr wheel lacks {', '.join(missing)} (the bench extra of pyproject.toml pins the one that has them)"
            )
        return paths

    def _get(self):
        if self._engine is None:
            paths = self.model_paths()
            from rapidocr import RapidOCR
            from rapidocr.utils.download_file import DownloadFile

            # Every download in rapidocr goes through this one classmethod (models and dictionaries).
            DownloadFile.run = classmethod(_refuse_download)
            params = {f"{stage}.model_path": str(path) for stage, path in paths.items()}
            params["Global.log_level"] = "warning"
            engine = RapidOCR(params=params)
            # The recognizer's character list must come from the ONNX file itself, else rapidocr fetches one.
            if not engine._load_rec_model().session.have_key():
                raise EngineUnavailable(f"{paths['Rec'].name} carries no character list")
            self._engine = engine
        return self._engine

    def warm_up(self, lang: str) -> None:
        if self._engine is None:
            self.run(warm_up_page(), lang)  # loads the models; onnxruntime's first run is slow

    def run(self, image: Image.Image, lang: str) -> list[TextLine]:
        # rapidocr 3.x keeps use_det/use_cls/use_rec from the previous call, so every call names all three.
        out = self._get()(RapidOcrEngine._bgr(image), use_det=True, use_cls=REFERENCE_LINE_CLASSIFIER, use_rec=True)
        if out.boxes is None or out.txts is None:
            return []
        return [TextLine([(float(x), float(y)) for x, y in box], text) for box, text in zip(out.boxes, out.txts, strict=True)]

    def recognize(self, crops: list[np.ndarray], lang: str, kind: str) -> list[str]:
        engine, texts = self._get(), []
        for crop in crops:
            out = engine(RapidOcrEngine._bgr(crop), use_det=False, use_cls=False, use_rec=True)
            texts.append(out.txts[0] if out.txts else "")
        return texts

    def orients(self) -> bool:
        return False  # the classifier tells 0 from 180 per line only, not a page's rotation

    def orientation(self, image: Image.Image) -> int | None:
        return None

    def describe(self) -> str:
        from importlib.metadata import version

        stages = ("Det", "Rec", "Cls") if REFERENCE_LINE_CLASSIFIER else ("Det", "Rec")
        files = ", ".join(PPOCRV6_MODELS[s] for s in stages)
        cls = "" if REFERENCE_LINE_CLASSIFIER else ", no line classifier"
        return f"rapidocr {version('rapidocr')} ({files} from its wheel{cls}), onnxruntime default threads"


ENGINES = {"ours": OursEngine, "tesseract": TesseractEngine, "rapidocr": RapidOcrEngine, "ppocrv6": PpOcrV6Engine}


def make_engines(names: list[str], device: str | None = None) -> list:
    out = []
    for name in names:
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
        out.append(OursEngine(device) if name == "ours" else ENGINES[name]())
    return out
