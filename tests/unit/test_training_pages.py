"""Synthetic pages: boxes lie inside the page and match the rendered ink; distortions carry the boxes along."""

import random

import numpy as np
import pytest

from pipeline.preprocess import WORKING_SIDE
from training.corpus import build
from training.pages import PageSynth, box_quad, to_working_page, warp_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    # training/data/ is generated and git-ignored: a clean checkout builds its own
    data_dir = tmp_path_factory.mktemp("corpus")
    build(data_dir, en_man_pages=300, en_docs=100)
    return data_dir


@pytest.fixture(scope="module")
def synth(corpus):
    return PageSynth(seed=11, data_dir=corpus)


@pytest.mark.parametrize("kind", ["document", "form", "receipt"])
def test_boxes_inside_the_page_and_around_their_ink(synth, kind):
    page = synth(kind=kind, clutter=False)
    h, w = page.image.shape
    assert len(page.quads) == len(page.texts) >= 3
    assert page.quads[..., 0].min() >= 0 and page.quads[..., 0].max() <= w
    assert page.quads[..., 1].min() >= 0 and page.quads[..., 1].max() <= h
    for quad, text in zip(page.quads, page.texts, strict=True):
        assert text.strip()
        x0, y0 = np.floor(quad.min(0)).astype(int)
        x1, y1 = np.ceil(quad.max(0)).astype(int)
        inside = page.ink[y0:y1, x0:x1]
        cols = np.flatnonzero(inside.any(axis=0))
        assert len(cols) > 0, text
        # the box spans its ink from end to end (up to the advance of a last full-width mark such as 。) ...
        slack = 0.8 * (y1 - y0)
        assert cols[0] <= 2 + 0.2 * (y1 - y0) and cols[-1] >= inside.shape[1] - 3 - slack, text
        # ... and no ink of the line sticks out at its ends
        band = page.ink[y0 + 1 : y1 - 1]
        assert not band[:, max(0, x0 - 3) : max(0, x0 - 1)].any() and not band[:, x1 + 1 : x1 + 3].any(), text


def test_line_height_follows_the_font_size_not_the_letters(synth):
    page = synth(kind="receipt", clutter=False)
    heights = page.quads[:, 2, 1] - page.quads[:, 0, 1]
    assert np.median(heights) > 8
    # all item lines of a receipt share one size: their boxes have nearly one height whatever the letters
    assert np.percentile(heights, 25) >= 0.7 * np.percentile(heights, 75)


def test_warped_boxes_still_hold_the_warped_ink(synth):
    page = synth(kind="document", clutter=False)
    text = np.zeros(page.image.shape, bool)
    for quad in page.quads:
        x0, y0 = np.floor(quad.min(0)).astype(int)
        x1, y1 = np.ceil(quad.max(0)).astype(int)
        text[y0:y1, x0:x1] = True
    page.ink &= text  # text ink only: figures and rules are not lines
    warped = to_working_page(warp_page(page, random.Random(3), max_tilt=3.0, perspective=0.03))
    assert max(warped.image.shape) <= WORKING_SIDE + 15 and warped.image.shape[0] % 16 == 0 and warped.image.shape[1] % 16 == 0
    import cv2

    mask = np.zeros(warped.image.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(q).astype(np.int32) for q in warped.quads], 1)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    inside = (warped.ink & (mask > 0)).sum()
    assert inside >= 0.97 * warped.ink.sum()


def test_same_seed_same_page(corpus):
    a, b = PageSynth(seed=5, data_dir=corpus)(kind="form"), PageSynth(seed=5, data_dir=corpus)(kind="form")
    np.testing.assert_array_equal(a.image, b.image)
    assert a.texts == b.texts


def test_box_quad_is_clockwise_from_top_left():
    np.testing.assert_array_equal(box_quad(1, 2, 3, 4), [[1, 2], [3, 2], [3, 4], [1, 4]])
