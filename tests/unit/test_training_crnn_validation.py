"""The recognizer's real-document validation: typeset lines cut at their text-layer boxes."""

import torch

from bench.metrics import normalize
from pipeline.models import get_model
from training.train_crnn import document_validation_set, evaluate


def test_document_lines_are_cut_like_detected_lines_and_read_by_the_shipped_model():
    model = get_model("crnn_mix", "cpu")
    batches = document_validation_set(model.charset, batch_size=64)
    texts = [t for b in batches for t in b["texts"]]
    assert len(texts) > 300  # shared-mime-info's spec alone has ~14 pages of lines
    assert all(t and not any(c.isspace() for c in t) for t in texts)
    for b in batches:
        assert b["images"].shape[0] == len(b["texts"]) and b["images"].shape[2] == 32
    # the benchmark's normalisation on both sides; the shipped model reads these well
    assert evaluate(model.net, batches[:3], model.charset, torch.device("cpu"), normalize) < 0.05


def test_marked_validation_lines_are_apart_from_the_plain_ones_and_the_same_each_time():
    from training.train_crnn import marks_validation_set, validation_set

    charset = get_model("crnn_mix", "cpu").charset
    marked = [t for b in marks_validation_set("mix", charset, 24, 8) for t in b["texts"]]
    assert marked == [t for b in marks_validation_set("mix", charset, 24, 8) for t in b["texts"]]
    plain = {t for b in validation_set("mix", charset, 24, 8) for t in b["texts"]}
    assert len(marked) == 24 and not plain & set(marked)
    # each carries a dash list marker or a code token (training.typography.list_and_code_marks)
    assert sum(t[0] in "–—-" for t in marked) >= 4
    assert sum(any(c in t for c in "~{}[]^_") or "0x" in t or "Ctrl" in t for t in marked) >= 4
