"""``python -m bench`` end to end on a tiny recognizer-only run with a real engine."""

from __future__ import annotations

import shutil

import pytest

from bench import traditional
from bench.__main__ import main
from bench.datasets import UW3_DIR


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs tesseract")
@pytest.mark.skipif(not UW3_DIR.is_dir(), reason=f"evaluation data not beside the checkout ({UW3_DIR}); set OCR_BENCH_DATA")
def test_a_small_run_prints_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "benchmarks.md"
    assert main(["--sets", "uw3", "--engines", "tesseract", "--limit", "2", "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert capsys.readouterr().out == text
    assert "Set sizes: UW3 2" in text
    rows = [row for row in text.splitlines() if row.startswith("| UW3 | 2 |")]
    assert [row.split(" | ")[2] for row in rows] == ["line CER", "lines exactly right"]
    assert all(" ms)" in row for row in rows)  # a figure with its time per crop, not "n/a"
    assert "Do not edit by hand" in text


def test_unknown_sets_and_engines_are_refused(tmp_path):
    assert main(["--sets", "nope", "--no-write"]) == 2
    assert main(["--engines", "abbyy", "--no-write"]) == 2
    assert main(["--variants", "clean,300dpi", "--no-write"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs tesseract")
@pytest.mark.skipif(
    not all(path.is_file() for _, path, _ in traditional.FONTS), reason="needs the TC/TW fonts (fonts-noto-cjk, fonts-arphic-*)"
)
def test_the_traditional_set_at_low_resolution_gets_its_own_row(tmp_path, monkeypatch):
    monkeypatch.setattr(traditional, "OUT_DIR", tmp_path)
    out = tmp_path / "benchmarks.md"
    args = ["--sets", "rendered-zh-tw", "--variants", "72dpi", "--engines", "tesseract", "--limit", "1", "--output", str(out)]
    assert main(args) == 0
    rows = [row for row in out.read_text(encoding="utf-8").splitlines() if row.startswith("| rendered-zh-tw 72dpi |")]
    assert len(rows) == 2  # the CER table and the detection table
    assert rows[0].startswith("| rendered-zh-tw 72dpi | 1 |") and rows[0].count("%") == 1  # a CER, not "n/a"
