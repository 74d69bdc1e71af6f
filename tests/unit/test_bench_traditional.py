"""The Traditional Chinese page set: text taken from message catalogs, typesetting, and the pages it draws."""

from __future__ import annotations

import struct
from array import array
from pathlib import Path

import numpy as np
import pytest

from bench import render, traditional
from bench.metrics import normalize
from bench.traditional import FONTS, PagePlan, PlacedLine, break_lines, catalog_messages, draw_page, sentences

HAVE_FONTS = all(path.is_file() for _, path, _ in FONTS)
needs_fonts = pytest.mark.skipif(not HAVE_FONTS, reason="needs fonts-noto-cjk, fonts-arphic-uming and fonts-arphic-ukai")
HAVE_CATALOGS = all((traditional.LOCALE_DIR / f"{d}.mo").is_file() for d in traditional.CATALOGS)


def write_mo(path: Path, entries: dict[str, str]) -> None:
    """A GNU .mo file as msgfmt writes it (plural ids and forms joined by NUL)."""
    keys = sorted(entries)
    ids = strs = b""
    table = []
    for key in keys:
        k, v = key.encode(), entries[key].encode()
        table.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    key_start = 7 * 4 + 16 * len(keys)
    value_start = key_start + len(ids)
    offsets = [x for o1, l1, _, _ in table for x in (l1, o1 + key_start)]
    offsets += [x for _, _, o2, l2 in table for x in (l2, o2 + value_start)]
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    path.write_bytes(header + array("i", offsets).tobytes() + ids + strs)


def test_catalog_messages_skip_the_header_and_untranslated_entries_and_take_the_first_plural(tmp_path):
    mo = tmp_path / "demo.mo"
    write_mo(
        mo,
        {
            "": "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=n != 1;\n",
            "Cannot open file": "無法開啟檔案",
            "OK": "OK",  # left as in English
            "%d file\0%d files": "%d 個檔案\0%d 個檔案們",
        },
    )
    assert sorted(catalog_messages(mo)) == sorted(["無法開啟檔案", "%d 個檔案"])


def test_sentences_drop_markup_mnemonics_and_directives():
    assert sentences("開啟檔案(_O)…") == []  # four characters: too short once the mnemonic goes
    assert sentences("<b>無法讀取設定檔案</b>") == ["無法讀取設定檔案"]
    # a directive is text the program fills in: the message splits there, dangling quotes trimmed
    assert sentences("無法開啟設定用的「%s」資料夾，請檢查權限：%s\n請稍後再試一次") == [
        "無法開啟設定用的",
        "資料夾，請檢查權限",
        "請稍後再試一次",
    ]
    assert sentences("N|讓快取住的個人識別碼 (PIN) 在 N 秒後到期") == ["讓快取住的個人識別碼 (PIN) 在 N 秒後到期"]
    assert sentences("usage: git commit [options]") == []  # mostly Latin
    assert sentences("正在使用外部程式 %1$s 的版本，共有 %2$lu 個位元組的資料") == [
        "正在使用外部程式",
        "的版本，共有",
        "個位元組的資料",
    ]
    assert sentences("版本 %s 已安裝") == []  # pieces under six characters say nothing


def test_break_lines_keep_words_whole_and_closing_punctuation_off_line_starts():
    measure = len  # one unit per character
    lines = break_lines("一二三四五六七八，九十 version2.1 好", width=8, first_indent=2, measure=measure)
    assert lines[0] == (2, "一二三四五六")
    assert lines[1] == (0.0, "七八，九十")  # the comma stays with 八, past the margin if need be
    assert lines[2] == (0.0, "version2.1")  # a Latin word is never cut
    assert lines[3] == (0.0, "好")
    assert "".join(text for _, text in lines).replace(" ", "") == "一二三四五六七八，九十version2.1好"


@needs_fonts
def test_a_drawn_page_has_its_ink_inside_the_true_boxes_at_every_resolution():
    plan = PagePlan(
        font=2,
        lines=[
            PlacedLine(72.0, 100.0, 18.0, "繁體中文標題"),
            PlacedLine(72.0, 140.0, 11.0, "這是一行測試文字，包含 GPG 與數字 2038。"),
        ],
    )
    boxes = {}
    for dpi in (200, 72):
        image, truth = draw_page(plan, dpi)
        assert image.size == (round(595.276 * dpi / 72), round(841.89 * dpi / 72))
        assert [line.text for line in truth] == [line.text for line in plan.lines]
        ink = np.asarray(image) < 160
        covered = np.zeros_like(ink)
        for line in truth:
            xs, ys = [p[0] for p in line.polygon], [p[1] for p in line.polygon]
            covered[int(min(ys)) : int(np.ceil(max(ys))) + 1, int(min(xs)) : int(np.ceil(max(xs))) + 1] = True
        assert ink.any() and not (ink & ~covered).any()  # no dark pixel outside a true box
        boxes[dpi] = [line.polygon for line in truth]
        again, _ = draw_page(plan, dpi)
        assert np.array_equal(np.asarray(again), np.asarray(image))
    # the same layout at both resolutions: a line starts and sits where it does at 200 DPI, scaled;
    # its length differs a little, since small sizes round each character's advance to whole pixels
    for low, high in zip(boxes[72], boxes[200], strict=True):
        (x0, y0), (x1, y1) = np.min(low, axis=0), np.max(low, axis=0)
        (u0, v0), (u1, v1) = np.min(high, axis=0) * 0.36, np.max(high, axis=0) * 0.36
        assert np.allclose([x0, y0, y1], [u0, v0, v1], atol=2.5)
        assert x1 - x0 == pytest.approx(u1 - u0, rel=0.05)


@needs_fonts
def test_sentences_found_in_the_man_pages_are_left_out(tmp_path, monkeypatch):
    locale, man = tmp_path / "locale", tmp_path / "man" / "man1"
    locale.mkdir()
    man.mkdir(parents=True)
    (man / "demo.1").write_text(".TH DEMO 1\n這個命令會把所有的檔案複製到目標目錄中\n", encoding="utf-8")
    write_mo(
        locale / "demo.mo",
        {
            "": "Content-Type: text/plain; charset=UTF-8\n",
            "a": "這個命令會把所有的檔案複製到目標目錄中並且結束",
            "b": "請先登入系統以繼續使用這個服務",
            "c": "請先登入系統以繼續使用這個服務",
        },
    )
    monkeypatch.setattr(traditional, "LOCALE_DIR", locale)
    monkeypatch.setattr(traditional, "MAN_DIR", tmp_path / "man")
    monkeypatch.setattr(traditional, "CATALOGS", ("demo",))
    assert traditional.corpus() == ["請先登入系統以繼續使用這個服務"]  # the man page's sentence gone, the duplicate too


@pytest.mark.slow
@needs_fonts
@pytest.mark.skipif(not HAVE_CATALOGS, reason="needs the zh_TW message catalogs of the packages in bench.traditional.CATALOGS")
def test_the_set_is_deterministic_and_its_copies_share_text(tmp_path, monkeypatch):
    monkeypatch.setattr(traditional, "OUT_DIR", tmp_path)
    sets = {v: traditional.traditional_set(v, 2) for v in ("clean", "scan", "72dpi")}
    assert [s.name for s in sets.values()] == ["rendered-zh-tw clean", "rendered-zh-tw scan", "rendered-zh-tw 72dpi"]
    assert all(s.lang == "zh" and len(s.samples) == 2 for s in sets.values())
    texts = [[line.text for line in sample.lines] for sample in sets["clean"].samples]
    for s in sets.values():
        assert [[line.text for line in sample.lines] for sample in s.samples] == texts
    chars = "".join(normalize(t) for page in texts for t in page)
    assert len(texts[0]) >= 20 and sum(traditional.is_han(c) for c in chars) > 0.8 * len(chars)
    assert sets["clean"].samples[0].image().size == (1654, 2339)
    assert sets["72dpi"].samples[0].image().size == (595, 842)
    assert sets["scan"].samples[0].lines[0].polygon != sets["clean"].samples[0].lines[0].polygon  # tilted along
    # a smaller limit is a prefix of the same pages, read back from the cache
    again = traditional.traditional_set("clean", 1)
    assert [line.text for line in again.samples[0].lines] == texts[0]
    assert np.array_equal(np.asarray(again.samples[0].image()), np.asarray(sets["clean"].samples[0].image()))


def test_rendered_variants_name_their_resolution():
    assert [render.variant_dpi(v) for v in render.VARIANTS] == [200, 200, 100, 72]
    with pytest.raises(ValueError):
        render.variant_dpi("300dpi")


@pytest.mark.skipif(not render.PDFS["en"].is_file(), reason="needs debian-reference-en")
def test_low_resolution_copies_are_rasterised_at_that_resolution_with_the_text_layer_scaled(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "OUT_DIR", tmp_path)
    full, low = render.rendered_set("en", "clean", 1), render.rendered_set("en", "72dpi", 1)
    assert low.name == "rendered-en 72dpi" and low.samples[0].id == full.samples[0].id
    assert low.samples[0].image().size == (596, 842)
    pairs = list(zip(low.samples[0].lines, full.samples[0].lines, strict=True))
    assert all(a.text == b.text for a, b in pairs)
    assert all(np.allclose(np.asarray(a.polygon), np.asarray(b.polygon) * 72 / 200, atol=0.01) for a, b in pairs)
