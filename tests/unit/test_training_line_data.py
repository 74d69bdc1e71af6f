"""Synthetic recognizer lines: underlined labels."""

import random

import numpy as np
import pytest

from pipeline.charset import Charset
from pipeline.recognizer import prepare_line
from training.fonts import latin_fonts
from training.line_data import LineSampler
from training.render import render_line

FORMS_FONT = "LiberationMono-Regular"  # a typewriter face, as FUNSD's labels are typed


def _font():
    fonts = [f for f in latin_fonts() if FORMS_FONT in f.path]
    if not fonts:
        pytest.skip(f"{FORMS_FONT} is not installed")
    return fonts[0]


def _dark_rows(img: np.ndarray) -> np.ndarray:
    """Share of each row's pixels that are ink."""
    return (img < (int(img.max()) + int(img.min())) / 2).mean(axis=1)


def test_an_underline_runs_through_the_descenders_not_along_the_crop_edge():
    font = _font()
    ruled_lines = 0
    for seed in range(20):
        plain = render_line("Weights gy", font, 30, random.Random(seed))
        ruled = render_line("Weights gy", font, 30, random.Random(seed), underline=True)
        rows = _dark_rows(ruled)
        # a rule is a row that is nearly all ink; letters never make one
        assert _dark_rows(plain).max() < 0.6
        rule = np.flatnonzero(rows > 0.6)
        if not rule.size:  # the crop's jitter now and then cuts a box's bottom off, rule and all
            continue
        ruled_lines += 1
        text_rows = np.flatnonzero(rows > 0.05)
        # below the letters' middle, inside the band the text and its descenders take up
        assert rule.min() > text_rows.min() + 0.4 * (text_rows.max() - text_rows.min())
    assert ruled_lines >= 15


def test_an_underlining_sampler_draws_prepared_lines(tmp_path):
    # training/data/ is generated and git-ignored: an English sampler needs only its prose file
    (tmp_path / "corpus_en.txt").write_text("Filter Plug Length 84 mm\nTotal Cigt. Wt.\n" * 20, encoding="utf-8")
    charset = Charset.load("models/charset_mix.txt")
    sampler = LineSampler("en", charset, seed=5, underline=1.0, data_dir=tmp_path)
    for _ in range(10):
        img, text, case_unknown = sampler.sample()
        assert img.shape[0] == prepare_line(np.full((20, 40), 255, np.uint8)).shape[0] and text and not case_unknown


def test_a_sampler_without_marks_draws_the_lines_it_drew_before(tmp_path):
    # the validation sampler never marks: its lines (and their random stream) must not move
    (tmp_path / "corpus_en.txt").write_text("Filter Plug Length 84 mm\nTotal Cigt. Wt.\n" * 20, encoding="utf-8")
    charset = Charset.load("models/charset_mix.txt")
    plain = LineSampler("en", charset, seed=9, data_dir=tmp_path)
    unmarked = LineSampler("en", charset, seed=9, data_dir=tmp_path, marks=0.0)
    marked = LineSampler("en", charset, seed=9, data_dir=tmp_path, marks=1.0)
    a = [plain.sample()[1] for _ in range(20)]
    assert a == [unmarked.sample()[1] for _ in range(20)]
    assert a != [marked.sample()[1] for _ in range(20)]
