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
does. ``--write`` puts the lowest-CER setting in the card's ``postprocess``, with the
text probability at which lines may start on photos (``photo_score_threshold``,
pipeline.photo_lines.photo_like) chosen by line H-mean on our validation split of the
real scene photos (training.real_data; never MSRA-TD500's test photos).
"""

from __future__ import annotations

import argparse
import copy
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
from training.real_data import IGNORE, load_pages

# fill: (fill_threshold, fill_ends): none; faint stretches inside lines only; and past a line's ends too
FILLS = ((None, False), (0.2, False), (0.2, True), (0.15, True))
GRID = [
    {"score_threshold": t, "min_overlap": 0.5, "max_gap": g, "fill_threshold": f, "fill_ends": e}
    for t, g, (f, e) in itertools.product((0.25, 0.3, 0.35), (32.0, 64.0), FILLS)
]
# Page CER forgives a line box that runs on into the next column or table cell (the two are read
# as one group); users and the line H-mean do not. So the lowest CER is taken only among the
# settings whose H-mean is within this of the best one's (on 2026-11-30's validation pages,
# fill_ends at 0.15 read 0.1 points better than at 0.2 but cost 0.06 of H-mean).
HMEAN_SLACK = 0.01
DPI = 200  # the platform's default PDF resolution (Settings.pdf_dpi)
# Text probability at which lines may start on photos (pipeline.photo_lines.photo_like), chosen by line
# H-mean on our validation split of the scene photos; 0.3 is what the pages chose on 2026-11-30.
PHOTO_THRESHOLDS = (0.3, 0.4, 0.5, 0.6)


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


def scene_photos() -> list[tuple[Image.Image, list[TextLine]]]:
    """(photo, true lines) for our validation split of the real scene photos; lines the set marks
    as not to be read (or vertical, or steep) are don't-care."""
    return [
        (
            Image.fromarray(page.image),
            [
                TextLine(q.tolist(), "" if t == IGNORE else t, difficult=t == IGNORE)
                for q, t in zip(page.quads, page.texts, strict=True)
            ],
        )
        for page in load_pages("val")
        if page.kind == "real-scene"
    ]


def with_detector(base: Pipeline, options: dict) -> Pipeline:
    """``base`` with every stage and setting as it is but the detector's post-processing."""
    pipeline = copy.copy(base)
    pipeline.detector = CtpnDetector(base.detector.net, base.detector.device, **options)
    return pipeline


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
    ap.add_argument(
        "--photos-only",
        action="store_true",
        help="keep the card's settings for pages and choose only the threshold at which lines start on photos",
    )
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    base = get_pipeline("mix", args.device)
    model_dir = get_settings().model_dir
    if args.photos_only:
        shipped = {k: v for k, v in read_card(model_dir, "ctpn").get("postprocess", {}).items() if k != "photo_score_threshold"}
        photo = choose_photo_threshold(base, shipped)
        if args.write:
            print(f"wrote {json.dumps(photo.options)} to {write_photo_choice(photo, model_dir)}")
        return
    pages = scored_pages()
    if not pages:
        raise SystemExit("no validation PDF is installed (see training/README.md)")
    outcomes = [score(with_detector(base, options), pages, options) for options in GRID]
    chars = outcomes[0].cer.true_chars
    print(f"{len(pages)} validation pages at {DPI} DPI, {chars} characters")
    for o in sorted(outcomes, key=lambda o: o.cer.cer):
        print(f"page CER {o.cer.cer:.4f}  H-mean {o.detection.hmean:.3f}  {json.dumps(o.options)}")
    best = choose(outcomes)
    print(f"chosen (lowest CER within {HMEAN_SLACK} of the best H-mean): {json.dumps(best.options)}")
    photo = choose_photo_threshold(base, best.options)
    if args.write:
        path = write_card(best, model_dir)
        if photo is not None:
            write_photo_choice(photo, model_dir)
        print(f"wrote postprocess {best.options} and {json.dumps(photo.options if photo else {})} to {path}")


def choose_photo_threshold(base: Pipeline, options: dict) -> Outcome | None:
    """The photo threshold (PHOTO_THRESHOLDS) with the best line H-mean on our validation scene
    photos, the pages' ``options`` otherwise; None without such photos."""
    photos = scene_photos()
    if not photos:
        return None
    tried = [
        score(with_detector(base, {**options, "photo_score_threshold": t}), photos, {"photo_score_threshold": t})
        for t in PHOTO_THRESHOLDS
    ]
    print(f"{len(photos)} validation scene photos, page settings {json.dumps(options)}")
    for o in tried:
        d = o.detection
        print(f"line H-mean {d.hmean:.3f} (P {d.precision:.3f} R {d.recall:.3f})  {json.dumps(o.options)}")
    photo = max(tried, key=lambda o: o.detection.hmean)  # the first, lowest threshold, on a tie
    print(f"chosen for photos: {json.dumps(photo.options)}")
    return photo


def choose(outcomes: list[Outcome]) -> Outcome:
    """The lowest page CER among the settings that keep the line H-mean near its best."""
    top = max(o.detection.hmean for o in outcomes)
    return min((o for o in outcomes if o.detection.hmean >= top - HMEAN_SLACK), key=lambda o: o.cer.cer)


def _rewrite_card(model_dir: Path, change) -> Path:
    """models/ctpn.json after ``change(card)`` has edited it in place."""
    path = Path(model_dir) / "ctpn.json"
    card = read_card(path.parent, "ctpn")
    change(card)
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_card(best: Outcome, model_dir: Path) -> Path:
    return _rewrite_card(model_dir, lambda card: _page_choice(card, best))


def _page_choice(card: dict, best: Outcome) -> None:
    card["postprocess"] = best.options
    card.setdefault("metrics", {})["postprocess_choice"] = {
        "by": "python -m training.tune_postprocess --write: lowest page CER through the pipeline "
        f"among settings within {HMEAN_SLACK} of the best line H-mean",
        "pages": "training.debian_pdfs.VALIDATION_PDFS at 200 DPI",
        "page_cer": round(best.cer.cer, 4),
        "hmean": round(best.detection.hmean, 4),
    }


def write_photo_choice(photo: Outcome, model_dir: Path) -> Path:
    """``photo``'s threshold into the card's ``postprocess``, the pages' settings as they are."""
    return _rewrite_card(model_dir, lambda card: _photo_choice(card, photo))


def _photo_choice(card: dict, photo: Outcome) -> None:
    card["postprocess"] = {**card.get("postprocess", {}), **photo.options}
    card.setdefault("metrics", {}).setdefault("postprocess_choice", {})["photos"] = {
        "by": "python -m training.tune_postprocess: line H-mean through the pipeline on our validation split "
        "of the real scene photos (pipeline.photo_lines.photo_like pages)",
        "hmean": round(photo.detection.hmean, 4),
        "precision": round(photo.detection.precision, 4),
        "recall": round(photo.detection.recall, 4),
    }


if __name__ == "__main__":
    main()
