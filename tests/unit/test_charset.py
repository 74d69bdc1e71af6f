"""The shipped character sets and the index <-> character round trip."""

import pytest

from core.settings import REPO_ROOT
from pipeline.charset import BLANK, Charset, build_charset, gb2312_hanzi

MODELS = REPO_ROOT / "models"


def test_gb2312_has_6763_hanzi():
    hanzi = gb2312_hanzi()
    assert len(hanzi) == 6763 and len(set(hanzi)) == 6763
    assert hanzi[0] == "啊" and hanzi[-1] == "齄"


def test_shipped_charsets_are_the_built_ones():
    for lang in ("mix", "en"):
        assert Charset.load(MODELS / f"charset_{lang}.txt").chars == build_charset(lang)
    mix = Charset.load(MODELS / "charset_mix.txt")
    assert " " in mix.index and "，" in mix.index and "。" in mix.index and "中" in mix.index
    assert mix.num_classes == len(mix.chars) + 1


def test_round_trip_mixed_text():
    cs = Charset.load(MODELS / "charset_mix.txt")
    text = "OCR 测试：价格￥12.50，（完）Hello, world!"
    ids = cs.encode(text)
    assert BLANK not in ids and len(ids) == len(text)
    assert cs.decode(ids) == text
    assert cs.decode([BLANK] + ids + [BLANK]) == text


def test_normalize_folds_to_what_the_charset_can_say():
    en = Charset.load(MODELS / "charset_en.txt")
    assert en.normalize("ＡＢＣ１２３") == "ABC123"  # full-width Latin -> ASCII
    assert en.normalize("中文abc") == "abc"
    mix = Charset.load(MODELS / "charset_mix.txt")
    assert mix.normalize("你好，世界") == "你好，世界"  # CJK punctuation stays as written


def test_save_and_load(tmp_path):
    cs = Charset(["a", " ", "中"])
    cs.save(tmp_path / "c.txt")
    assert Charset.load(tmp_path / "c.txt").chars == ["a", " ", "中"]
    with pytest.raises(ValueError):
        Charset(["a", "a"])


def test_mixed_charset_says_traditional_chinese():
    from pipeline.charset import GB18030_COMMON_EXTRA, big5_level1_hanzi

    big5 = big5_level1_hanzi()
    assert len(big5) == 5401 and big5[0] == "一" and big5[-1] == "籲"
    mix = Charset.load(MODELS / "charset_mix.txt")
    assert all(ch in mix.index for ch in "授權書軟體網路資料庫")
    assert all(ch in mix.index for ch in big5 + list(GB18030_COMMON_EXTRA))
    assert mix.normalize("授權書") == "授權書"
