"""The character language model: folding, a normalised back-off table, the shipped model and its decoder."""

import json
import math

import numpy as np
import pytest

from core.errors import ModelError
from core.settings import REPO_ROOT
from pipeline.charlm import START, CharNgramLM, fold, fold_text, get_decoder
from pipeline.charset import Charset
from training.build_charlm import build_table, count_ngrams

CORPUS = ["the cat sat on the mat", "the hat is red", "a cat and a hat", "数据 123 的 cat", "that is the thing"] * 3


@pytest.fixture
def small_lm(tmp_path):
    table, floor = build_table(count_ngrams(CORPUS, 3), order=3, min_count=2, discount=0.75)
    CharNgramLM.from_table(table, floor, order=3).save(tmp_path / "lm.npz")
    return CharNgramLM.load(tmp_path / "lm.npz", order=3)


def test_fold_keeps_spelling_and_kinds_of_text():
    assert fold_text("Cat 42 數據 ¥!") == "cat 00 中中 .!"
    assert fold("A") == "a" and fold("٣") == "0" and fold("\t") == "."
    assert START not in fold_text("^~\x02 x")


def test_every_history_is_a_distribution_over_the_symbols(small_lm):
    symbols = sorted({s for line in CORPUS for s in fold_text(line)})
    for history in (START * 2, "th", "ca", "zz", "中 ", "q"):
        seen = sum(math.exp(small_lm.logp(history, s)) for s in symbols)
        unseen = math.exp(small_lm.floor) if history in ("zz", "q") else None
        # the symbols the corpus had take all the mass but what the one unseen symbol slot keeps
        assert 0.9 < seen <= 1.0 + 1e-4, (history, seen)
        if unseen is not None:
            assert small_lm.logp(history, "@") <= math.log(1 - seen + 1e-4) + 1e-3


def test_the_corpus_spelling_is_preferred(small_lm):
    assert small_lm.logp("th", "e") > small_lm.logp("th", "x")
    assert small_lm.score("the cat") > small_lm.score("tke cat")
    assert small_lm.score("hat") > small_lm.score("hct")


def test_a_missing_or_broken_table_is_a_clear_model_error(tmp_path):
    with pytest.raises(ModelError, match="cannot be read"):
        CharNgramLM.load(tmp_path / "none.npz", order=3)
    (tmp_path / "bad.npz").write_bytes(b"not an npz at all")
    with pytest.raises(ModelError, match="cannot be read"):
        CharNgramLM.load(tmp_path / "bad.npz", order=3)


def test_a_card_whose_table_does_not_match_is_refused(tmp_path):
    shipped = json.loads((REPO_ROOT / "models" / "charlm.json").read_text(encoding="utf-8"))
    (tmp_path / "charlm.json").write_text(json.dumps(shipped), encoding="utf-8")
    (tmp_path / shipped["file"]).write_bytes(b"\x1f\x8b tampered")
    with pytest.raises(ModelError, match="sha256"):
        get_decoder(["a", "b"], tmp_path)
    assert get_decoder(["a", "b"], tmp_path / "nowhere") is None  # no model shipped: greedy decoding


def test_the_shipped_model_knows_english_spelling_and_its_card_says_how_it_was_made():
    charset = Charset.load(REPO_ROOT / "models" / "charset_mix.txt")
    decoder = get_decoder(charset.chars, REPO_ROOT / "models")
    assert decoder is not None
    lm = decoder.lm
    assert lm.score("better") > lm.score("retter")
    assert lm.score("purchase") > lm.score("purghase")
    assert lm.score("india") > lm.score("indla")
    card = json.loads((REPO_ROOT / "models" / "charlm.json").read_text(encoding="utf-8"))
    assert card["training"]["lines"] > 100_000 and "debian-reference" in card["training"]["data"]
    assert 0 < card["decoding"]["alpha"] < 1 and card["decoding"]["beam_width"] >= 1
    # a frame the network is sure of everywhere is decoded greedily: no search
    assert not decoder.needed(np.array([[0.99, 0.01], [0.995, 0.004]]))
    assert decoder.needed(np.array([[0.99, 0.01], [0.6, 0.3]]))
