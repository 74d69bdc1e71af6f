"""Pipeline.run_pages: several pages together read as run_page reads each, and a bad page fails alone."""

import numpy as np
import pytest
from PIL import Image

from core.errors import InputError
from pipeline.pipeline import get_pipeline
from pipeline.result import Page
from tests.unit.test_pipeline import rendered_page
from tests.unit.test_word_boxes import render_page


@pytest.fixture(scope="module")
def pages():
    """Three small pages: mixed Chinese and English, English lines, and the mixed page shrunk onto a
    page of the second's size (so that two pages share one detector pass)."""
    mixed = render_page()[0]
    shrunk = Image.new("RGB", (800, 1000), "white")
    shrunk.paste(mixed.resize((800, 553)), (0, 0))
    return [mixed, rendered_page(), shrunk]


@pytest.fixture(scope="module")
def pipe():
    return get_pipeline("mix", "cpu")


@pytest.fixture(scope="module")
def singles(pipe, pages):
    return [pipe.run_page(p, page_number=n) for n, p in enumerate(pages, start=1)]


def reading(page: Page):
    """What must not change: the page's size and turn, and its blocks', lines' and words' text and boxes."""
    return (
        (page.page_number, page.width, page.height, page.angle, page.skew),
        [b.bbox for b in page.blocks],
        [(ln.text, ln.bbox, ln.polygon, [(w.text, w.bbox) for w in ln.words]) for ln in page.lines],
    )


def assert_same_reading(got: Page, want: Page):
    assert reading(got) == reading(want)
    # the recognizer's batches mix the pages' lines, and its BiLSTM reads their padding: confidences may move a little
    assert [ln.confidence for ln in got.lines] == pytest.approx([ln.confidence for ln in want.lines], abs=0.02)
    assert set(got.timings) == set(want.timings)


def test_pages_read_together_read_as_each_alone(pipe, pages, singles):
    assert all(len(page.lines) >= 5 for page in singles)  # real text was read, not nothing
    results = pipe.run_pages(pages)
    assert len(results) == 3
    for got, want in zip(results, singles, strict=True):
        assert isinstance(got, Page)
        assert_same_reading(got, want)


def test_a_bad_page_fails_alone(pipe, pages, singles):
    results = pipe.run_pages([pages[0], np.zeros((0, 0), np.uint8), pages[2]], page_numbers=[1, 2, 3])
    assert isinstance(results[1], InputError)
    assert_same_reading(results[0], singles[0])
    assert_same_reading(results[2], singles[2])
