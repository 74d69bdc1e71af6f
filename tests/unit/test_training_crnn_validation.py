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


def test_marked_validation_lines_are_apart_from_the_plain_ones_and_the_same_each_time(tmp_path):
    from training.train_crnn import marks_validation_set, validation_set

    corpus = "Filter Plug Length 84 mm\nTotal Cigt. Wt.\nThe package is installed\nsee the manual page\n"
    (tmp_path / "corpus_en.txt").write_text(corpus * 20, encoding="utf-8")
    charset = get_model("crnn_mix", "cpu").charset

    def texts(sets):
        return [t for b in sets for t in b["texts"]]

    marked = texts(marks_validation_set("en", charset, 24, 8, tmp_path))
    assert marked == texts(marks_validation_set("en", charset, 24, 8, tmp_path))
    plain = set(texts(validation_set("en", charset, 24, 8, tmp_path)))
    assert len(marked) == 24 and not plain & set(marked)
    # each carries a dash list marker or a code token (training.typography.list_and_code_marks)
    assert sum(t[0] in "–—-" for t in marked) >= 4
    assert sum(any(c in t for c in "~{}[]^_") or "0x" in t or "Ctrl" in t for t in marked) >= 4
