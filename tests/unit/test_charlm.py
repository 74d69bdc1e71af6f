"""The character language model: folding, a normalised back-off table, the shipped model and its decoder."""

import json
import math

import numpy as np
import pytest

from core.errors import ModelError
from core.settings import REPO_ROOT
from pipeline.charlm import START, CharNgramLM, LmDecoder, fold, fold_text, get_decoder, key_of, words_of
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
    # its lexicon: a spelling dictionary's words and the corpus's own
    assert card["lexicon"]["words"] > 50_000 and len(lm.words) == card["lexicon"]["words"]
    assert lm.is_word("better") and lm.is_word("debian") and not lm.is_word("retter")
    # a frame the network is sure of everywhere is decoded greedily: no search
    assert not decoder.needed(np.array([[0.99, 0.01], [0.995, 0.004]]))
    assert decoder.needed(np.array([[0.99, 0.01], [0.6, 0.3]]))


def test_words_are_runs_of_two_letters_or_more():
    assert words_of(fold_text("There's 2 NEW cat-flaps, a 中文 x")) == ["there", "new", "cat", "flaps"]


def test_the_lexicon_survives_a_save_and_a_load(tmp_path):
    table, floor = build_table(count_ngrams(CORPUS, 3), order=3, min_count=2, discount=0.75)
    CharNgramLM.from_table(table, floor, order=3, lexicon={"cat", "hat"}).save(tmp_path / "lm.npz")
    lm = CharNgramLM.load(tmp_path / "lm.npz", order=3)
    assert lm.is_word("cat") and lm.is_word("hat") and not lm.is_word("cap")
    assert lm.known_words("the cat, the hat, the cap") == 2
    # a table written before lexicons had none: no word is known, decoding as before
    np.savez(tmp_path / "old.npz", keys=lm.keys, logprob=lm.logprob, backoff=lm.backoff, floor=np.float64(lm.floor))
    assert not CharNgramLM.load(tmp_path / "old.npz", order=3).is_word("cat")


def test_a_lexicon_word_makes_a_reading_more_plausible(small_lm, tmp_path):
    from pipeline.recognizer import Recognition

    small_lm.words = np.sort(np.array([key_of("cat")], dtype=np.int64))
    decoder = LmDecoder(small_lm, list("act"), alpha=0.0, beta=0.0, word_bonus=2.0)
    conf = np.array([0.9, 0.9, 0.9])
    assert decoder.plausibility(Recognition("cat", 0.9, conf)) == pytest.approx(
        decoder.plausibility(Recognition("cta", 0.9, conf)) + 2.0
    )
