"""Line cropping, width batching and the recognizer's decoding mechanics."""

import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from pipeline.charset import Charset
from pipeline.nets.crnn import CrnnConfig, CrnnNet
from pipeline.recognizer import CrnnRecognizer, Recognition, batches_by_width, crop_line, prepare_line


def test_axis_aligned_crop_without_margins_is_the_sub_image():
    gray = (np.arange(60 * 80).reshape(60, 80) % 251).astype(np.uint8)
    crop = crop_line(gray, [(10, 5), (30, 5), (30, 15), (10, 15)], margin_y=0, margin_x=0)
    np.testing.assert_array_equal(crop, gray[5:15, 10:30])


def test_crop_margins_are_in_line_heights():
    gray = np.zeros((100, 200), dtype=np.uint8)
    crop = crop_line(gray, [(50, 40), (150, 40), (150, 60), (50, 60)], margin_y=0.1, margin_x=0.25)
    assert crop.shape == (24, 110)  # 20 + 2 * 2 rows, 100 + 2 * 5 columns


def test_tilted_line_is_straightened():
    gray = np.full((200, 300), 255, dtype=np.uint8)
    quad = np.array([(40, 60), (240, 95), (240, 125), (40, 90)], dtype=np.float32)  # ~10 deg
    cv2.fillConvexPoly(gray, np.round(quad).astype(np.int32), 0)
    crop = crop_line(gray, quad, margin_y=0, margin_x=0)
    assert crop.shape == (30, 203)
    assert crop[2:-2, 2:-2].mean() < 10  # all ink: the warp followed the tilt


def test_prepare_line_has_height_32_and_keeps_aspect():
    out = prepare_line(np.zeros((64, 400), dtype=np.uint8))
    assert out.shape == (32, 200) and out.dtype == np.uint8


def test_batches_group_similar_widths():
    widths = [100, 400, 110, 120, 500]
    assert batches_by_width(widths) == [[0, 2, 3], [1, 4]]
    assert batches_by_width(widths, max_batch=2) == [[0, 2], [3], [1, 4]]
    assert batches_by_width(widths, max_frames=60) == [[0, 2], [3], [1], [4]]
    assert batches_by_width([]) == []


class AlternatingCrnn(nn.Module):
    """Emits class 1 on even frames and blank on odd ones, whatever the input: a line of
    width w (T = ceil(w / 4) frames of its own) must read as ceil(T / 2) characters."""

    def __init__(self):
        super().__init__()
        self.cfg = CrnnConfig(num_classes=3)
        self.widths = []

    def forward(self, x):
        b, _, _, w = x.shape
        self.widths.append(w)
        t = w // 4
        logits = torch.zeros(t, b, 3)
        logits[0::2, :, 1] = math.log(4.0)  # softmax -> 4/6 for 'a'
        logits[1::2, :, 0] = math.log(8.0)  # softmax -> 0.8 for blank
        return logits


def test_recognizer_keeps_order_ignores_padding_frames_and_reports_confidences():
    net = AlternatingCrnn()
    rec = CrnnRecognizer(net, Charset(["a", "b"]), max_batch=8)
    crops = [np.full((32, w), 255, dtype=np.uint8) for w in (40, 16, 44, 400)]
    out = rec(crops)
    # frames: 10, 4, 11, 100 -> 'a' on frames 0, 2, 4, ... but repeats are split by blanks
    assert [r.text for r in out] == ["a" * 5, "a" * 2, "a" * 6, "a" * 50]
    assert out[0].char_confidences == pytest.approx([4 / 6] * 5)
    assert out[0].confidence == pytest.approx(4 / 6)
    assert net.widths == [16, 44, 400]  # 40 and 44 share a batch padded to 44; 16 and 400 are too far off


def test_empty_crop_reads_as_nothing():
    rec = CrnnRecognizer(AlternatingCrnn(), Charset(["a", "b"]))
    out = rec([np.zeros((0, 0), dtype=np.uint8), np.full((32, 8), 255, dtype=np.uint8)])
    assert (out[0].text, out[0].confidence, out[0].char_confidences) == ("", 0.0, [])
    assert out[1].text == "a" * 2  # 8 px is widened to 16: 4 frames


def test_real_crnn_on_random_weights_runs_batched():
    torch.manual_seed(0)
    charset = Charset(list("abcdefgh"))
    net = CrnnNet(CrnnConfig(num_classes=charset.num_classes)).eval()
    rec = CrnnRecognizer(net, charset, max_batch=2)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (h, w), dtype=np.uint8) for h, w in [(30, 200), (45, 90), (20, 300)]]
    out = rec(crops)
    assert len(out) == 3
    for r in out:
        assert set(r.text) <= set("abcdefgh")
        assert len(r.char_confidences) == len(r.text)
        assert all(0.0 < c <= 1.0 for c in r.char_confidences)
        assert 0.0 <= r.confidence <= 1.0


def test_charset_must_fit_the_network():
    with pytest.raises(ValueError):
        CrnnRecognizer(AlternatingCrnn(), Charset(["a"]))


def test_latin_script_never_emits_a_masked_class():
    # the network prefers the hanzi on every frame; masked, the next best class wins and the
    # softmax is taken over the classes the language may say
    class HanziCrnn(torch.nn.Module):
        cfg = CrnnConfig(num_classes=4)

        def forward(self, x):
            t = x.shape[-1] // 4
            logits = torch.zeros(t, x.shape[0], 4)
            logits[:, :, 3] = 5.0  # 中
            logits[0::2, :, 1] = 2.0  # a
            return logits

    charset = Charset(["a", "b", "中"])
    assert charset.class_mask("latin") == [True, True, True, False]
    assert CrnnRecognizer(HanziCrnn(), charset)([np.full((32, 16), 255, np.uint8)])[0].text == "中"
    out = CrnnRecognizer(HanziCrnn(), charset, script="latin")([np.full((32, 16), 255, np.uint8)])[0]
    assert out.text == "aa"
    assert all(c > 0.5 for c in out.char_confidences)


def test_an_unsure_word_is_read_again_wider_and_the_more_plausible_reading_kept():
    import random

    import cv2

    from pipeline.line_image import prepare_line
    from pipeline.pipeline import get_pipeline
    from training.augment import degrade
    from training.fonts import latin_fonts
    from training.render import render_line

    recognizer = get_pipeline("en", "cpu").recognizer
    decoder = recognizer.decoder
    assert decoder is not None and decoder.second_look > 1.0
    rng = random.Random(11)
    fonts = latin_fonts()
    crops = []
    for word in ("PURCHASE", "Flavor", "Payloads", "STATION", "camp", "great", "BETTER", "India", "Lodge", "SUMMER"):
        img = render_line(word, rng.choice(fonts), 18, rng)
        crops.append(degrade(cv2.resize(img, None, fx=0.6, fy=0.6), rng, strength=0.9))
    got = recognizer(crops)

    plain = [Recognition("", 0.0) for _ in crops]
    unsure = recognizer._read({i: prepare_line(c) for i, c in enumerate(crops)}, crops, plain)
    wide = [Recognition("", 0.0) for _ in crops]
    recognizer._read({i: prepare_line(c, decoder.second_look) for i, c in enumerate(crops)}, crops, wide)
    changed = 0
    for i, (g, p, w) in enumerate(zip(got, plain, wide, strict=True)):
        looked = i in unsure and len(p.text) <= decoder.second_look_max_chars
        wins = looked and bool(w.text) and decoder.plausibility(w) > decoder.plausibility(p)
        assert g.text == (w.text if wins else p.text)
        changed += wins and w.text != p.text
    # degraded enough that some words were in doubt and their wider reading won
    assert unsure and changed >= 1
