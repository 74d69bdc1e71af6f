"""The look at the page's negative for light lettering on a dark ground (pipeline/light_text.py)."""

import copy

import numpy as np

from pipeline.ctpn.textline import DetectedLine
from pipeline.light_text import FOUND_BY, LightText
from pipeline.pipeline import get_pipeline
from tests.unit.page_samples import dark_banner_page


def line(x0, y0, x1, y1):
    return DetectedLine(np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], np.float32), 0.9, 5)


def test_only_pages_with_a_dark_ground_are_looked_at_twice():
    page = np.full((960, 1280), 235, np.uint8)
    page[100:110, 100:900] = 30  # a line of dark print: not a dark ground
    page[300:310, 100:900] = 30
    assert not LightText().needed(page)
    page[500:800, 200:1000] = 40  # a dark banner
    assert LightText().needed(page)
    assert np.array_equal(LightText.negative(page), 255 - page)


def test_lines_of_the_negative_that_cover_found_lines_are_dropped_and_the_rest_marked():
    found = [line(100, 100, 600, 130)]
    merged = LightText().merge(found, [line(110, 102, 590, 128), line(100, 300, 500, 340)])
    assert merged[0] is found[0] and len(merged) == 2
    assert merged[1].bbox == (100.0, 300.0, 500.0, 340.0) and merged[1].found_by == FOUND_BY


def test_a_line_of_the_negative_is_kept_only_when_it_reads_as_text():
    keep = LightText().keep
    assert keep("Turn On", 0.93)
    assert not keep("Turn On", 0.5)  # the gaps of dark print, read as strokes, read unsure
    assert not keep("l", 0.99) and not keep("—·—", 0.99)


def test_the_shipped_pipeline_reads_dark_print_on_a_dark_ground_page_unchanged():
    # the negative of the page's dark print is not read twice: its lines cover what the first pass found
    img = dark_banner_page(56)
    pipeline = get_pipeline("en", "cpu")
    alone = copy.copy(pipeline)
    alone.light_text = False
    texts = [ln.text for ln in pipeline.run_page(img, detect_orientation=False).lines]
    assert texts == [ln.text for ln in alone.run_page(img, detect_orientation=False).lines]
    assert texts == ["Turn the power on", "Human-computer interaction in the year 2020"]
