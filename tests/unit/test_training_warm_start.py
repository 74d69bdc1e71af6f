"""A recognizer started from another keeps the source's reading of every class the two share."""

import pytest
import torch

from pipeline.charset import Charset
from pipeline.nets.crnn import CrnnConfig, CrnnNet
from training.warm_start import add_characters, extend_classes, transfer_crnn

SRC_CHARS = list("abc xyz")
DST_CHARS = list("abc xyz") + list("中文字")


def nets(dst_rank: int) -> tuple[CrnnNet, CrnnNet]:
    torch.manual_seed(0)
    small = dict(channels=(4, 8, 8, 16), hidden=8)
    src = CrnnNet(CrnnConfig(num_classes=len(SRC_CHARS) + 1, **small)).eval()
    dst = CrnnNet(CrnnConfig(num_classes=len(DST_CHARS) + 1, head_rank=dst_rank, **small)).eval()
    return src, dst


@pytest.mark.parametrize("rank", [0, 16])
def test_shared_classes_score_as_in_the_source(rank):
    src, dst = nets(rank)
    src_cs, dst_cs = Charset(SRC_CHARS), Charset(DST_CHARS)
    carried = transfer_crnn(src, src_cs, dst, dst_cs)
    assert carried == len(SRC_CHARS) + 1  # every source class and the blank
    x = torch.rand(2, 1, 32, 64)
    with torch.no_grad():
        a, b = src(x), dst(x)  # (T, B, C)
    for ch, i in src_cs.index.items():
        torch.testing.assert_close(b[..., dst_cs.index[ch]], a[..., i], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b[..., 0], a[..., 0], atol=1e-5, rtol=1e-5)
    # the new classes start below what the source's classes score, so they are not read yet
    assert b[..., [dst_cs.index[c] for c in "中文字"]].mean() < a.mean()


def test_rank_below_source_classes_is_refused():
    src, dst = nets(4)
    with pytest.raises(ValueError, match="head rank"):
        transfer_crnn(src, Charset(SRC_CHARS), dst, Charset(DST_CHARS))


@pytest.mark.parametrize("rank", [0, 16])
def test_added_classes_leave_the_old_ones_as_they_were(rank):
    src, _ = nets(rank)
    if rank:  # nets() makes the source unfactored: build a factored one of the same size
        torch.manual_seed(1)
        src = CrnnNet(CrnnConfig(num_classes=len(SRC_CHARS) + 1, channels=(4, 8, 8, 16), hidden=8, head_rank=rank)).eval()
    src_cs = Charset(SRC_CHARS)
    dst_cs = Charset(SRC_CHARS + list("•–"))
    dst = extend_classes(src, src_cs, dst_cs).eval()
    assert dst.cfg.num_classes == dst_cs.num_classes and dst.cfg.head_rank == rank
    x = torch.rand(2, 1, 32, 64)
    with torch.no_grad():
        a, b = src(x), dst(x)
    torch.testing.assert_close(b[..., : src_cs.num_classes], a, atol=1e-5, rtol=1e-5)
    assert b[..., src_cs.num_classes :].max() < a.max()


def test_a_charset_that_drops_a_character_is_refused():
    src, _ = nets(0)
    with pytest.raises(ValueError, match="drops"):
        extend_classes(src, Charset(SRC_CHARS), Charset(SRC_CHARS[1:] + ["•"]))


def test_add_characters_rewrites_charset_weights_and_card(tmp_path):
    from pipeline.models import get_model
    from pipeline.weights import read_card, save_model

    src, _ = nets(0)
    Charset(SRC_CHARS).save(tmp_path / "charset_t.txt")
    card = {"architecture": "crnn", "config": src.cfg.to_dict(), "charset": "charset_t.txt", "training": {"steps": 7}}
    save_model(src, tmp_path, "crnn_t", card)
    assert add_characters("crnn_t", "•a–", tmp_path) == 2  # "a" is there already
    assert Charset.load(tmp_path / "charset_t.txt").chars == SRC_CHARS + ["•", "–"]
    assert read_card(tmp_path, "crnn_t")["training"]["charset_extended"] == [{"step": 7, "added": "•–"}]
    assert get_model("crnn_t", "cpu", tmp_path).charset.num_classes == len(SRC_CHARS) + 3
