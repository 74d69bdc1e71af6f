"""Real labelled training sets: our validation split, line crops, don't-care regions, case-unknown CTC."""

import argparse
import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from pipeline.charset import Charset
from training.ctpn_targets import assign, ignore_regions
from training.real_data import IGNORE, is_validation, load_lines, load_pages
from training.train_crnn import fold_case_log_probs, repeat_arg, repeat_sets


def _write_set(root, name, records, size=(200, 400)):
    folder = root / name
    (folder / "img").mkdir(parents=True)
    with open(folder / "labels.jsonl", "w", encoding="utf-8") as f:
        for rec in records:
            img = np.full(size, 255, np.uint8)
            for ln in rec["lines"]:
                (x0, y0), (x1, y1) = ln["points"][0], ln["points"][2]
                cv2.rectangle(img, (int(x0) + 2, int(y0) + 2), (int(x1) - 2, int(y1) - 2), 0, -1)
            cv2.imwrite(str(folder / rec["image"]), img)
            f.write(json.dumps(rec) + "\n")


def _rec(image, kind, lines, **extra):
    return {"image": image, "lang": "en", "kind": kind, "lines": lines, **extra}


def _line(x0, y0, x1, y1, text, **extra):
    return {"points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "text": text, "ignore": False, **extra}


def test_split_is_by_image_name_and_stable():
    names = [f"img/{i:04d}.png" for i in range(1000)]
    val = [n for n in names if is_validation(n)]
    assert 60 < len(val) < 140  # about one in ten
    assert val == [n for n in names if is_validation(n)]


def test_lines_keep_what_the_charset_can_say_and_mark_unknown_case(tmp_path):
    names = [f"img/{i:03d}.png" for i in range(40)]
    train_name = next(n for n in names if not is_validation(n))
    charset = Charset(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "))
    _write_set(
        tmp_path,
        "receipts",
        [
            _rec(
                train_name,
                "receipt",
                [
                    _line(10, 10, 200, 40, "TOTAL  12"),
                    _line(10, 60, 200, 90, "ÄÖ"),  # not sayable: left out, not taught half
                    _line(10, 100, 200, 130, "GONE", ignore=True),
                    _line(10, 140, 30, 190, "VERT", vertical=True),
                ],
            )
        ],
    )
    _write_set(tmp_path, "photos", [_rec(train_name, "scene", [_line(0, 0, 10, 10, "")], transcribed=False)])
    lines = load_lines("train", charset, tmp_path)
    assert [(x.text, x.case_unknown, x.source) for x in lines] == [("TOTAL 12", True, "receipts")]
    assert lines[0].image.shape[0] > 30  # cut with the pipeline's margins
    assert load_lines("val", charset, tmp_path) == []


def test_pages_keep_dont_care_quads_under_the_ignore_text(tmp_path):
    name = next(f"img/{i:03d}.png" for i in range(40) if not is_validation(f"img/{i:03d}.png"))
    steep = _line(0, 0, 1, 1, "")
    steep["points"] = [[100, 20], [110, 180], [95, 181], [85, 21]]  # a line running down the page
    _write_set(
        tmp_path, "photos", [_rec(name, "scene", [_line(10, 10, 80, 40, ""), steep, _line(10, 60, 80, 90, "", ignore=True)])]
    )
    (page,) = load_pages("train", tmp_path)
    assert page.texts == ["", IGNORE, IGNORE]
    assert page.quads.shape == (3, 4, 2) and page.kind == "real-scene"


def test_ignore_regions_hide_background_anchors_only():
    quads = np.array([[[16, 16], [160, 16], [160, 40], [16, 40]]], np.float32)
    t = assign(quads, 128, 256)
    positives = t.labels == 1
    before = (t.labels == 0).sum()
    ignore_regions(t.labels, np.array([[[0, 0], [250, 0], [250, 100], [0, 100]]], np.float32))
    assert (t.labels[positives] == 1).all()
    assert (t.labels == 0).sum() < before
    assert (t.labels[:5, :14] == 0).sum() == 0  # inside the region nothing is background any more


def test_unknown_case_accepts_either_case_in_the_ctc_loss():
    charset = Charset(list("ABab"))
    # every frame says lower case "a", then blank, then "b": the print is "ab"
    t = 6
    logits = torch.full((t, 2, charset.num_classes), -8.0)
    for i, c in enumerate("aa_bb_"):
        logits[i, :, 0 if c == "_" else charset.index[c]] = 8.0
    log_probs = logits.log_softmax(-1)
    targets = torch.tensor(charset.encode("AB") * 2)
    ctc = nn.CTCLoss(reduction="none", zero_infinity=True)
    lengths, target_lengths = torch.tensor([t, t]), torch.tensor([2, 2])
    unknown = torch.tensor([True, False])
    loss = ctc(fold_case_log_probs(log_probs, unknown, charset), targets, lengths, target_lengths)
    assert loss[0] < 1.0  # the receipt's "AB" matches the printed "ab"
    assert loss[1] > 10.0  # a case-sensitive label does not


def test_real_repeat_draws_a_set_more_often(tmp_path):
    charset = Charset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    _write_set(tmp_path, "forms", [_rec("img/f.png", "form", [_line(10, 10, 200, 40, "AB")])])
    _write_set(tmp_path, "words", [_rec("img/w.png", "scene", [_line(0, 0, 100, 30, "CD")], level="word")])
    lines = load_lines("train", charset, tmp_path) + load_lines("val", charset, tmp_path)
    assert sorted(x.source for x in lines) == ["forms", "words"]
    repeated = repeat_sets(lines, [repeat_arg("words=3")])
    assert sorted(x.source for x in repeated) == ["forms", "words", "words", "words"]
    assert repeat_sets(lines, []) == lines
    for bad in ("words", "words=0", "=2", "words=x"):
        with pytest.raises(argparse.ArgumentTypeError):
            repeat_arg(bad)
