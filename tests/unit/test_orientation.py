"""Orientation stage: patch choice, log-probability averaging, blank pages."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.models import get_model
from pipeline.nets.orientation import ANGLES, PATCH
from pipeline.orientation import OrientationClassifier, page_patches


def text_block_page():
    """A 1280 x 960 page (already at working scale) with text-like bars in two blocks."""
    page = np.full((1280, 960), 255, dtype=np.uint8)
    for y in range(100, 400, 24):
        for x in range(100, 500, 40):
            page[y : y + 10, x : x + 30] = 0
    for y in range(800, 900, 24):
        for x in range(500, 900, 40):
            page[y : y + 10, x : x + 30] = 0
    return page


def test_blank_page_has_no_patches_and_returns_zero_with_uniform_confidence():
    blank = np.full((1000, 700), 250, dtype=np.uint8)
    assert page_patches(blank).shape == (0, PATCH, PATCH)
    clf = OrientationClassifier(get_model("orientation", "cpu").net)
    assert clf(blank) == (0, 0.25)


def test_patches_come_from_the_text_and_are_deterministic():
    page = text_block_page()
    patches = page_patches(page)
    assert patches.shape == (12, PATCH, PATCH) and patches.dtype == np.uint8
    np.testing.assert_array_equal(patches, page_patches(page))
    ink = (patches < 128).mean(axis=(1, 2))
    assert (ink > 0.1).all()  # every chosen patch holds text


def test_few_text_tiles_give_few_patches():
    page = np.full((1280, 960), 255, dtype=np.uint8)
    page[200:260, 200:280] = np.tile(np.repeat([0, 255], 4), 10)[None, :80]  # stripes in one tile
    assert len(page_patches(page)) == 1


class FixedLogits(nn.Module):
    """Returns the given logits for the patches, in order (repeating the last row)."""

    def __init__(self, rows):
        super().__init__()
        self.rows = torch.tensor(rows, dtype=torch.float32)
        self.batch = None

    def forward(self, x):
        self.batch = x.shape
        idx = torch.clamp(torch.arange(x.shape[0]), max=len(self.rows) - 1)
        return self.rows[idx]


def test_confidence_is_the_softmax_of_the_mean_log_probabilities():
    page = text_block_page()
    net = FixedLogits([[0.0, 0.0, math.log(6.0), 0.0]])
    assert OrientationClassifier(net, views=(0,))(page) == (180, pytest.approx(6 / 9))
    assert net.batch == (12, 1, PATCH, PATCH)

    rows = [[math.log(4.0), 0.0, 0.0, 0.0], [0.0, math.log(4.0), 0.0, 0.0]] + [[0.0, math.log(4.0), 0.0, 0.0]] * 10
    log_p = np.log(np.array(rows_probs(rows)))
    expect = np.exp(log_p.mean(axis=0))
    expect /= expect.sum()
    angle, conf = OrientationClassifier(FixedLogits(rows), views=(0,), min_turn_confidence=0.0)(page)
    assert angle == 90 and conf == pytest.approx(expect[1])


def rows_probs(rows):
    e = np.exp(np.array(rows))
    return e / e.sum(axis=1, keepdims=True)


def test_shipped_network_runs():
    angle, conf = OrientationClassifier(get_model("orientation", "cpu").net)(text_block_page())
    assert angle in ANGLES and 0.25 <= conf <= 1.0


class DarkCorner(nn.Module):
    """Reads a patch's class off which quadrant is darkest: TL 0, TR 1, BR 2, BL 3 (clockwise turns)."""

    def forward(self, x):
        h = x.shape[2] // 2
        quads = [x[:, 0, :h, :h], x[:, 0, :h, h:], x[:, 0, h:, h:], x[:, 0, h:, :h]]
        darkness = torch.stack([-q.mean(dim=(1, 2)) for q in quads], dim=1)  # (B, 4)
        return 20 * darkness


def corner_marked_patches() -> np.ndarray:
    patches = np.full((5, PATCH, PATCH), 255, dtype=np.uint8)
    patches[:, 8:40, 8:40] = 0  # a dark block in each patch's top-left quadrant
    return patches


@pytest.mark.parametrize("views", [(0,), (0, 2), (0, 1, 2, 3)])
@pytest.mark.parametrize("quarters", [0, 1, 2, 3])
def test_turned_views_are_mapped_back_to_the_pages_class(views, quarters):
    patches = np.rot90(corner_marked_patches(), k=-quarters, axes=(1, 2))  # a page turned clockwise
    probs = OrientationClassifier(DarkCorner(), views=views).classify_patches(patches)
    assert int(np.argmax(probs)) == quarters and probs.max() > 0.9


@pytest.mark.parametrize(("p180", "angle"), [(0.40, 0), (0.55, 180)])
def test_a_page_is_turned_only_when_clearly_better_than_upright(p180, angle):
    p0 = 0.9 - p180  # the rest spread over 90 and 270
    net = FixedLogits([[math.log(p0), math.log(0.05), math.log(p180), math.log(0.05)]])
    got, conf = OrientationClassifier(net, views=(0,))(text_block_page())
    assert got == angle and conf == pytest.approx(p0 if angle == 0 else p180)


@pytest.mark.parametrize(("p90", "angle"), [(0.47, 0), (0.49, 0), (0.55, 90)])
def test_a_page_is_not_turned_on_a_guess(p90, angle):
    # The turned reading beats upright by far more than MIN_TURN_RATIO, but only a majority turns the page.
    p0 = 0.3 if p90 < 0.5 else 0.25
    rest = (1.0 - p0 - p90) / 2
    net = FixedLogits([[math.log(p0), math.log(p90), math.log(rest), math.log(rest)]])
    got, conf = OrientationClassifier(net, views=(0,))(text_block_page())
    assert got == angle and conf == pytest.approx(p0 if angle == 0 else p90)
