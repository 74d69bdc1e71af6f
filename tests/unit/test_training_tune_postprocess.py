"""Choosing the detector's post-processing by page CER through the real pipeline."""

import json
import shutil

from core.settings import REPO_ROOT
from pipeline.detector import CtpnDetector
from pipeline.models import get_model
from pipeline.pipeline import get_pipeline
from training.tune_postprocess import (
    GRID,
    Outcome,
    choose,
    score,
    scored_pages,
    with_detector,
    write_card,
    write_photo_choice,
)


def test_each_setting_runs_the_whole_pipeline_on_scored_pages():
    pages = scored_pages()[:2]
    assert pages and all(truth for _, truth in pages)
    base = get_pipeline("mix", "cpu")
    strict = score(with_detector(base, {"score_threshold": 0.99}), pages, {})
    usual = score(with_detector(base, GRID[0]), pages, GRID[0])
    assert usual.cer.true_chars == strict.cer.true_chars > 500
    # a detector that keeps almost nothing loses most of the text; the shipped one reads it
    assert strict.cer.cer > 0.5 > 0.1 > usual.cer.cer
    assert usual.detection.hmean > strict.detection.hmean


def test_the_choice_goes_into_the_card_and_the_detector_reads_it(tmp_path):
    for name in ("ctpn.json", "ctpn.safetensors"):
        shutil.copy(REPO_ROOT / "models" / name, tmp_path / name)
    best = Outcome({"score_threshold": 0.3, "min_overlap": 0.5, "max_gap": 64.0, "fill_threshold": 0.2})
    write_card(best, tmp_path)
    card = json.loads((tmp_path / "ctpn.json").read_text(encoding="utf-8"))
    assert card["postprocess"] == best.options
    assert card["metrics"]["postprocess_choice"]["pages"].startswith("training.debian_pdfs.VALIDATION_PDFS")
    detector = CtpnDetector.from_card(get_model("ctpn", "cpu", tmp_path).net, card)
    assert detector.fill_threshold == 0.2 and detector.line_options["max_gap"] == 64.0


def test_the_photo_threshold_joins_the_page_settings_in_the_card(tmp_path):
    for name in ("ctpn.json", "ctpn.safetensors"):
        shutil.copy(REPO_ROOT / "models" / name, tmp_path / name)
    pages = {"score_threshold": 0.3, "min_overlap": 0.5, "max_gap": 32.0, "fill_threshold": 0.2, "fill_ends": True}
    write_card(Outcome(pages), tmp_path)
    write_photo_choice(Outcome({"photo_score_threshold": 0.4}), tmp_path)
    card = json.loads((tmp_path / "ctpn.json").read_text(encoding="utf-8"))
    assert card["postprocess"] == {**pages, "photo_score_threshold": 0.4}
    assert "scene photos" in card["metrics"]["postprocess_choice"]["photos"]["by"]
    detector = CtpnDetector.from_card(get_model("ctpn", "cpu", tmp_path).net, card)
    assert detector.photo_score_threshold == 0.4 and detector.score_threshold == 0.3
    # choosing the page settings again keeps nothing of the old photo choice: it is chosen again after them
    write_card(Outcome(pages), tmp_path)
    assert "photo_score_threshold" not in json.loads((tmp_path / "ctpn.json").read_text(encoding="utf-8"))["postprocess"]


def test_the_choice_is_the_lowest_cer_that_keeps_the_line_hmean():
    from bench.metrics import CerCount, DetectionCount

    def outcome(name, distance, matched):
        return Outcome({"name": name}, CerCount(distance, 1000), DetectionCount(matched, 1000, 1000))

    merging = outcome("merges columns", 10, 750)  # lowest CER, but its boxes run into the next column
    careful = outcome("careful", 12, 820)
    best_boxes = outcome("best boxes", 20, 825)
    assert choose([merging, careful, best_boxes]) is careful
