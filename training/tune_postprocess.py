"""Choose the detector's post-processing by what users get: page CER through the whole pipeline.

    python -m training.tune_postprocess            # print the grid, keep the card as it is
    python -m training.tune_postprocess --write    # and ship the best setting in models/ctpn.json

CTPN's own validation picks its checkpoint and a first post-processing by line
H-mean on its (mostly synthetic) validation pages. H-mean punishes a line box
that swallows a faint stretch the network half-missed exactly as much as one
that swallows a neighbouring column; page CER does not: a missed stretch is text
lost, a merged box is text read in one piece. So this script runs the real
pipeline (shipped recognizer included) over the validation-only Debian PDFs
(training.debian_pdfs.VALIDATION_PDFS, never trained on, never the benchmark's
debian-reference) with each setting of GRID and scores pages as the benchmark
does. ``--write`` puts the lowest-CER setting in the card's ``postprocess``.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bench.metrics import CerCount, DetectionCount, TextLine, page_cer, page_detection
from core.settings import get_settings
from pipeline.detector import CtpnDetector
from pipeline.pipeline import Pipeline, get_pipeline
from pipeline.weights import read_card
from training.debian_pdfs import validation_pages

GRID = [
    {"score_threshold": t, "min_overlap": 0.5, "max_gap": g, "fill_threshold": f}
    for t, g, f in itertools.product((0.25, 0.3, 0.35), (32.0, 64.0), (None, 0.2))
]
DPI = 200  # the platform's default PDF resolution (Settings.pdf_dpi)


@dataclass
class Outcome:
    options: dict
    cer: CerCount = field(default_factory=CerCount)
    detection: DetectionCount = field(default_factory=DetectionCount)


def scored_pages(dpi: int = DPI) -> list[tuple[Image.Image, list[TextLine]]]:
    """(page image, true lines) for every page of the validation-only PDFs."""
    return [
        (Image.fromarray(page.image), [TextLine(q.tolist(), t) for q, t in zip(page.quads, page.texts, strict=True)])
        for page in validation_pages(dpi)
    ]


def with_detector(base: Pipeline, options: dict) -> Pipeline:
    detector = CtpnDetector(base.detector.net, base.detector.device, **options)
    return Pipeline(base.orientation, base.preprocessor, detector, base.recognizer, base.reading_order, base.lang)


def score(pipeline: Pipeline, pages, options: dict) -> Outcome:
    outcome = Outcome(options)
    for image, truth in pages:
        lines = pipeline.run_page(image, detect_orientation=False).lines
        pred = [TextLine(line.polygon, line.text) for line in lines]
        outcome.cer.add(page_cer(truth, pred))
        outcome.detection.add(page_detection(truth, pred))
    return outcome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="ship the best setting in the CTPN model card")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    pages = scored_pages()
    if not pages:
        raise SystemExit("no validation PDF is installed (see training/README.md)")
    base = get_pipeline("mix", args.device)
    outcomes = [score(with_detector(base, options), pages, options) for options in GRID]
    chars = outcomes[0].cer.true_chars
    print(f"{len(pages)} validation pages at {DPI} DPI, {chars} characters")
    for o in sorted(outcomes, key=lambda o: o.cer.cer):
        print(f"page CER {o.cer.cer:.4f}  H-mean {o.detection.hmean:.3f}  {json.dumps(o.options)}")
    best = min(outcomes, key=lambda o: o.cer.cer)
    if args.write:
        print(f"wrote postprocess {best.options} to {write_card(best, get_settings().model_dir)}")


def write_card(best: Outcome, model_dir: Path) -> Path:
    path = Path(model_dir) / "ctpn.json"
    card = read_card(path.parent, "ctpn")
    card["postprocess"] = best.options
    card.setdefault("metrics", {})["postprocess_choice"] = {
        "by": "python -m training.tune_postprocess --write: lowest page CER through the pipeline",
        "pages": "training.debian_pdfs.VALIDATION_PDFS at 200 DPI",
        "page_cer": round(best.cer.cer, 4),
        "hmean": round(best.detection.hmean, 4),
    }
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
