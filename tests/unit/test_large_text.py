"""The half- and quarter-size looks for letters too tall for the detector's view (pipeline/large_text.py)."""

import copy

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.ctpn.textline import DetectedLine
from pipeline.large_text import LARGE_TEXT_LOOKS, LargeText
from pipeline.light_text import LightText
from pipeline.pipeline import get_pipeline


def line(x0, y0, x1, y1):
    return DetectedLine(np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], np.float32), 0.9, 5)


def test_the_small_copy_is_half_size_and_detector_aligned():
    small = LargeText().shrink(np.full((960, 1280), 200, np.uint8))
    assert small.shape == (480, 640)
    odd = LargeText().shrink(np.full((976, 1296), 200, np.uint8))
    assert odd.shape[0] % 16 == 0 and odd.shape[1] % 16 == 0 and odd.shape[0] >= 488


def test_only_tall_lines_that_cover_nothing_found_are_added_in_full_size_pixels():
    found = [line(100, 100, 600, 130)]
    small = [
        line(100, 200, 400, 260),  # 120 px tall at full size, clear of everything: added
        line(40, 45, 320, 70),  # over the full-size line: the same text seen coarsely
        line(100, 400, 300, 415),  # 30 px at full size: the full-size pass's business
    ]
    merged = LargeText().merge(found, small)
    assert merged[0] is found[0] and len(merged) == 2
    assert merged[1].bbox == (200.0, 400.0, 800.0, 520.0)


def test_two_tall_lines_from_the_small_copy_do_not_stack():
    merged = LargeText().merge([], [line(100, 200, 400, 260), line(110, 205, 390, 255)])
    assert len(merged) == 1


def _poster(letters: int) -> Image.Image:
    img = Image.new("RGB", (1728, 1296), (200, 200, 190))
    draw = ImageDraw.Draw(img)
    draw.text(
        (150, 300),
        "BEING HUMAN",
        font=ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", letters),
        fill=(60, 60, 60),
    )
    small = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    draw.text((150, 900), "Human-computer interaction in the year 2020", font=small, fill=(40, 40, 40))
    return img


def test_the_shipped_pipeline_reads_a_headline_too_tall_for_one_look():
    pipeline = get_pipeline("en", "cpu")
    alone = copy.copy(pipeline)
    alone.large_text = ()
    # letters ~115 px tall at working size: past what the full-size pass proposes
    poster = _poster(160)
    assert [ln.text for ln in alone.run_page(poster, detect_orientation=False).lines] == [
        "Human-computer interaction in the year 2020"
    ]
    texts = [ln.text for ln in pipeline.run_page(poster, detect_orientation=False).lines]
    assert texts == ["BEING HUMAN", "Human-computer interaction in the year 2020"]


def test_a_look_with_a_confidence_floor_marks_its_lines_and_keeps_only_confident_text():
    quarter = LargeText(0.25, 90.0, min_confidence=0.7)
    merged = quarter.merge([], [line(10, 10, 100, 40)])  # 120 px tall at full size
    assert merged[0].found_by == quarter.found_by != "detector"
    assert merged[0].bbox == (40.0, 40.0, 400.0, 160.0)
    assert quarter.keep("OPEN", 0.9) and not quarter.keep("OPEN", 0.5) and not quarter.keep("..", 0.95)
    assert LargeText().merge([], [line(10, 10, 100, 40)])[0].found_by == "detector" and LargeText().keep("", 0.0)
    # the shipped looks: half size as before, then quarter size for what is taller still
    assert [(look.scale, look.min_confidence) for look in LARGE_TEXT_LOOKS] == [(0.5, None), (0.25, 0.7)]


def _sign(light: bool) -> Image.Image:
    """A photo-sized sign: "OPEN" in letters ~220 px tall at working size, too tall for the half-size look."""
    img = Image.new("RGB", (1728, 1296), (20, 20, 20) if light else (200, 200, 190))
    draw = ImageDraw.Draw(img)
    bold = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 300)
    draw.text((100, 250), "OPEN", font=bold, fill=(235, 235, 235) if light else (60, 60, 60))
    return img


def test_the_shipped_pipeline_reads_letters_too_tall_for_the_half_size_look():
    pipeline = get_pipeline("en", "cpu")
    half = copy.copy(pipeline)
    half.large_text = (LargeText(),)
    half.light_text = LightText(large=False)
    for light in (False, True):
        sign = _sign(light)
        assert "OPEN" not in [ln.text for ln in half.run_page(sign, detect_orientation=False).lines]
        assert [ln.text for ln in pipeline.run_page(sign, detect_orientation=False).lines] == ["OPEN"]
