"""Working size, contrast normalisation and skew estimation."""

import cv2
import numpy as np
import pytest

from pipeline.geometry import deskew_matrix, to_cv2
from pipeline.preprocess import Preprocessor, estimate_skew, normalize_contrast, scaled_size, to_working, working_scale


def test_working_scale_brings_the_longer_side_to_1280_without_big_upscaling():
    assert working_scale(2339, 1654) == pytest.approx(1280 / 2339)
    assert working_scale(1654, 2339) == pytest.approx(1280 / 2339)
    assert working_scale(1000, 1000) == pytest.approx(1.28)
    assert working_scale(300, 200) == 2.0
    assert scaled_size(2339, 1654) == (905, 1280)


def test_a4_working_image_is_padded_to_multiples_of_16():
    working, _, size, skew = to_working(np.full((2339, 1654), 250, dtype=np.uint8))
    assert size == (905, 1280) and skew == 0.0
    assert working.shape == (1280, 912)
    assert working.dtype == np.uint8


def test_light_text_on_dark_is_flipped_to_dark_on_light():
    page = np.full((200, 300), 20, dtype=np.uint8)
    page[90:110, 50:250] = 230
    out = normalize_contrast(page)
    assert out[5, 5] > 200 and out[100, 150] < 60


def text_page(skew_deg: float) -> np.ndarray:
    """A page of dark text-like bars (with gaps, like words), turned by ``skew_deg`` clockwise."""
    page = np.full((1280, 905), 255, dtype=np.uint8)
    rng = np.random.default_rng(0)
    for y in range(120, 1150, 34):
        x = 90
        while x < 800:
            w = int(rng.integers(20, 90))
            page[y : y + 14, x : x + w] = 30
            x += w + int(rng.integers(8, 16))
    if skew_deg:
        # the inverse of deskewing: lines then slope down to the right for positive angles
        m, _ = deskew_matrix(-skew_deg, 905, 1280)
        page = cv2.warpAffine(page, to_cv2(m), (905, 1280), borderValue=255)
    return page


@pytest.mark.parametrize("skew", [0.0, 3.0, -2.0, 7.5])
def test_skew_estimate_finds_the_slope_and_its_sign(skew):
    assert estimate_skew(text_page(skew)) == pytest.approx(skew, abs=0.15)


@pytest.mark.parametrize("skew", [-16.0, 13.5])
def test_preprocessor_levels_a_photographed_tilt(skew):
    prep = Preprocessor()(text_page(skew), angle=0)
    assert prep.geometry.skew == pytest.approx(skew, abs=0.15)
    assert estimate_skew(prep.working) == 0.0


def test_a_dark_ground_does_not_set_the_skew():
    # the banner's outline outweighed the strokes, and this page was deskewed 14.6 degrees
    from pipeline.pipeline import to_gray
    from tests.unit.page_samples import dark_banner_page

    assert Preprocessor()(to_gray(dark_banner_page(40)), angle=0).geometry.skew == 0.0


def test_blank_page_has_no_skew():
    assert estimate_skew(np.full((500, 400), 240, dtype=np.uint8)) == 0.0


def test_preprocessor_deskews_and_reports_it():
    prep = Preprocessor()(text_page(3.0), angle=0)
    assert prep.geometry.skew == pytest.approx(3.0, abs=0.15)
    assert estimate_skew(prep.working) == 0.0  # level after deskewing


def test_ink_mask_ignores_paper_noise_but_finds_a_single_word():
    from pipeline.preprocess import ink_mask

    rng = np.random.default_rng(0)
    noisy = np.clip(rng.normal(235, 4, (800, 600)), 0, 255).astype(np.uint8)
    assert not ink_mask(noisy).any()
    word = noisy.copy()
    word[400:412, 300:340] = 40  # 480 dark pixels: far below 1% of the page
    mask = ink_mask(word)
    assert mask.sum() == 480 and mask[400:412, 300:340].all()


def test_zoom_enlarges_the_working_page_within_its_bounds():
    from pipeline.preprocess import MAX_ZOOM_SIDE

    assert working_scale(2339, 1654, zoom=1.5) == pytest.approx(1.5 * 1280 / 2339)
    assert working_scale(2339, 1654, zoom=0.5) == pytest.approx(1280 / 2339)  # never smaller than the base
    assert working_scale(3508, 2480, zoom=10) == pytest.approx(MAX_ZOOM_SIDE / 3508)  # longer side bounded
    assert working_scale(1000, 700, zoom=10) == 2.0  # never beyond 2x the page's own pixels
    assert working_scale(300, 200, zoom=3) == 2.0  # a small page already at 2x stays there
    assert scaled_size(2339, 1654, zoom=2.0)[1] == 2560


def test_text_scale_zooms_only_pages_of_small_text():
    from pipeline.preprocess import TextScale

    scale = TextScale(small=11, target=20, min_lines=3)
    assert scale([15, 16, 18, 30]) == 1.0  # ordinary document lines at working size
    assert scale([5, 5, 6, 40]) == pytest.approx(20 / 5.5)  # a dense page: the median decides
    assert scale([4, 5]) == 1.0  # too few lines to judge
    assert scale([]) == 1.0
