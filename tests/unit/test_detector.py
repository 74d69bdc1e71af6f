"""CTPN post-processing on hand-made network outputs."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.detector import CtpnDetector, decode_outputs
from pipeline.models import get_model
from pipeline.photo_lines import photo_like
from pipeline.pipeline import to_gray
from pipeline.preprocess import Preprocessor
from tests.unit.page_samples import dark_banner_page, street_photo

K = 10


def logit(p):
    return math.log(p / (1 - p))


def outputs(h, w):
    score = np.zeros((h, w, K, 2), dtype=np.float32)
    score[..., 0] = 5.0  # everything is background...
    return score, np.zeros((h, w, K, 2), dtype=np.float32), np.zeros((h, w, K), dtype=np.float32)


def set_text(score, i, j, k, p):
    score[i, j, k] = (0.0, logit(p))


def test_decode_hand_made_outputs():
    score, vertical, side = outputs(2, 3)
    set_text(score, 1, 2, 3, 0.9)  # anchor height 33 at centre (40, 24)
    vertical[1, 2, 3] = (0.5, math.log(2.0))
    side[1, 2, 3] = -0.25
    set_text(score, 0, 0, 0, 0.6)  # below the threshold
    boxes, probs, sides = decode_outputs(score, vertical, side, 0.7)
    np.testing.assert_allclose(boxes, [[32, 24 + 16.5 - 33, 48, 24 + 16.5 + 33]], rtol=1e-6)
    np.testing.assert_allclose(probs, [0.9], rtol=1e-6)
    np.testing.assert_allclose(sides, [-0.25])


class FixedOutputs(nn.Module):
    def __init__(self, score, vertical, side):
        super().__init__()
        self.out = [torch.from_numpy(a)[None] for a in (score, vertical, side)]
        self.input_shape = None

    def forward(self, x):
        self.input_shape = tuple(x.shape)
        return tuple(self.out)


def line_outputs():
    """A 64 x 160 image (4 x 10 cells): one line in row 1, columns 2..6, plus single proposals."""
    score, vertical, side = outputs(4, 10)
    p = 1 / (1 + math.exp(-3))
    for j in range(2, 7):
        set_text(score, 1, j, 1, p)  # anchor height 16: rows 16..32
        set_text(score, 1, j, 2, 0.75)  # height 23 at the same place: removed by NMS
    side[1, 2, 1] = -0.25
    side[1, 6, 1] = 0.5
    set_text(score, 3, 9, 1, 0.98)  # a lone strong proposal: kept
    set_text(score, 3, 0, 1, 0.8)  # a lone weak one: dropped
    return score, vertical, side, p


def test_detector_builds_lines_from_network_outputs():
    score, vertical, side, p = line_outputs()
    net = FixedOutputs(score, vertical, side)
    lines = CtpnDetector(net)(np.full((64, 160), 255, dtype=np.uint8))
    assert net.input_shape == (1, 1, 64, 160)
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].polygon, [[36, 16], [112, 16], [112, 32], [36, 32]], atol=1e-4)
    assert lines[0].score == pytest.approx(p, rel=1e-5) and lines[0].num_proposals == 5
    np.testing.assert_allclose(lines[1].polygon, [[144, 48], [160, 48], [160, 64], [144, 64]], atol=1e-4)


def test_detector_without_side_refinement_and_with_a_stricter_threshold():
    score, vertical, side, _ = line_outputs()
    lines = CtpnDetector(FixedOutputs(score, vertical, side), side_refinement=False, strong_score=0.99)(
        np.full((64, 160), 255, dtype=np.uint8)
    )
    assert len(lines) == 1
    np.testing.assert_allclose(lines[0].polygon, [[32, 16], [112, 16], [112, 32], [32, 32]], atol=1e-4)


def test_detector_pads_odd_sizes_and_clips_to_the_image():
    score, vertical, side, _ = line_outputs()
    net = FixedOutputs(score, vertical, side)
    lines = CtpnDetector(net)(np.full((60, 150), 255, dtype=np.uint8))
    assert net.input_shape == (1, 1, 64, 160)
    assert max(ln.polygon[:, 0].max() for ln in lines) <= 150
    assert max(ln.polygon[:, 1].max() for ln in lines) <= 60


def test_shipped_network_runs_on_a_working_image():
    det = CtpnDetector(get_model("ctpn", "cpu").net)
    lines = det(np.full((128, 256), 255, dtype=np.uint8))
    for ln in lines:  # random weights: any number of lines, but well-formed
        assert ln.polygon.shape == (4, 2) and 0 <= ln.score <= 1


def test_lines_encoded_as_ideal_network_outputs_are_recovered():
    """Ground-truth lines written into score/vertical maps the way training labels them come back as lines."""
    from pipeline.ctpn.anchors import encode_vertical, make_anchors
    from pipeline.nets.ctpn import ANCHOR_HEIGHTS

    truth = [(32, 40, 400, 62), (480, 40, 896, 62), (32, 100, 608, 130), (64, 200, 704, 215)]  # ends on 16-px columns
    score, vertical, side = outputs(20, 60)  # 320 x 960 working image
    anchors = make_anchors(20, 60)
    for x0, y0, x1, y1 in truth:
        k = int(np.argmin(np.abs(np.log(np.array(ANCHOR_HEIGHTS) / (y1 - y0)))))
        i = int((y0 + y1) / 2 // 16)
        for j in range(x0 // 16, -(-x1 // 16)):
            set_text(score, i, j, k, 0.95)
            vertical[i, j, k] = encode_vertical(anchors[i, j, k], np.float32(y0), np.float32(y1))
    lines = CtpnDetector(FixedOutputs(score, vertical, side), side_refinement=False)(np.full((320, 960), 255, np.uint8))
    assert [tuple(round(v) for v in ln.bbox) for ln in lines] == truth


def test_detector_takes_its_threshold_from_the_model_card():
    net = get_model("ctpn", "cpu").net
    assert CtpnDetector.from_card(net, {"postprocess": {"score_threshold": 0.45}}).score_threshold == 0.45
    assert CtpnDetector.from_card(net, {}).score_threshold == CtpnDetector(net).score_threshold
    filling = CtpnDetector.from_card(net, {"postprocess": {"score_threshold": 0.4, "fill_threshold": 0.2}})
    assert filling.fill_threshold == 0.2 and filling.line_options["seed_score"] == 0.4
    assert filling.line_options["fill_ends"] is False
    extending = CtpnDetector.from_card(net, {"postprocess": {"fill_threshold": 0.2, "fill_ends": True}})
    assert extending.line_options["fill_ends"] is True
    assert CtpnDetector(net).line_options["seed_score"] is None


def test_unknown_postprocess_setting_in_the_card_is_a_model_error():
    from core.errors import ModelError

    with pytest.raises(ModelError, match="postprocess"):
        CtpnDetector.from_card(get_model("ctpn", "cpu").net, {"postprocess": {"threshold": 0.5}})


def test_photos_are_told_from_pages_of_print():

    def working(image):
        return Preprocessor()(to_gray(image)).working

    assert photo_like(working(street_photo()))
    page = working(dark_banner_page(64))  # dark ground, but paper and ink: not a photo
    assert not photo_like(page)
    assert not photo_like(255 - page)  # nor its negative, which the light-text look detects on


def test_photos_start_lines_at_their_own_threshold_and_pages_keep_theirs():
    net = get_model("ctpn", "cpu").net
    # strong_score out of reach: every line needs proposals at the threshold that starts lines
    options = {"score_threshold": 0.3, "fill_threshold": 0.2, "fill_ends": True, "strong_score": 1.5}
    usual = CtpnDetector.from_card(net, {"postprocess": options})
    strict = CtpnDetector.from_card(net, {"postprocess": {**options, "photo_score_threshold": 0.7}})
    as_photo = CtpnDetector.from_card(net, {"postprocess": {**options, "score_threshold": 0.7}})
    assert strict.photo_score_threshold == 0.7 and usual.photo_score_threshold is None
    photo = Preprocessor()(to_gray(street_photo())).working
    page = Preprocessor()(to_gray(dark_banner_page(64))).working

    def boxes(lines):
        return [tuple(ln.bbox) for ln in lines]

    # a photo is read as the detector at the photo threshold reads it, a page as at the page threshold
    assert boxes(strict(photo)) == boxes(as_photo(photo)) and strict(photo)
    blind = CtpnDetector.from_card(net, {"postprocess": {**options, "photo_score_threshold": 1.5}})
    assert usual(photo) and not blind(photo)  # no proposal reaches 1.5: no line starts on the photo
    assert boxes(blind(page)) == boxes(usual(page))
    assert boxes(strict(page)) == boxes(usual(page)) and usual(page)
    # batched as the pipeline calls it, each image keeps its own profile
    both = strict.detect_batch([photo, page])
    assert boxes(both[0]) == boxes(as_photo(photo)) and boxes(both[1]) == boxes(usual(page))
