"""Choosing the language model's decoding weights: the shipped recognizer's real outputs, decoded both ways."""

import numpy as np

from pipeline.charlm import LmDecoder
from pipeline.pipeline import get_pipeline
from training.fonts import latin_fonts
from training.render import render_line
from training.tune_decoding import decode_all, network_outputs, set_cer


def test_greedy_decoding_of_the_outputs_is_what_the_recognizer_reads_without_a_model():
    import copy
    import random

    base = get_pipeline("en", "cpu").recognizer
    recognizer = copy.copy(base)
    recognizer.decoder = None
    rng = random.Random(3)
    font = latin_fonts()[0]
    crops = [render_line(text, font, 24, rng) for text in ("Purchase order", "Better than ever", "14 March 2026")]
    outputs = network_outputs(recognizer, crops)
    assert [top_idx.shape[1] for top_idx, _ in outputs] == [4, 4, 4]
    assert decode_all(outputs, recognizer.charset, None) == [r.text for r in recognizer(crops)]
    # with the shipped model, a clean line reads the same: the search only runs where a frame is in doubt
    searched = decode_all(outputs, recognizer.charset, base.decoder)
    assert isinstance(base.decoder, LmDecoder) and searched == decode_all(outputs, recognizer.charset, None)


def test_set_cer_forgives_case_only_where_the_labels_do_not_know_it():
    truth = [(np.zeros((4, 4), np.uint8), "TOTAL 12.00", True), (np.zeros((4, 4), np.uint8), "Name:", False)]
    cer, exact = set_cer(["Total 12.00", "name:"], truth)
    assert cer == 1 / (len("TOTAL12.00") + len("Name:"))
    assert exact == 1.0  # IIIT5K's rule: letters and digits, case-insensitive
