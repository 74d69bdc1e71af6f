"""HTML pages rendered by Chromium: the DOM's line boxes hold the rendered text, follow the dpi,
use Traditional faces for Traditional text, and stay with their lines through the photo-like
degradations."""

import os
import random

import cv2
import numpy as np
import pytest

from training.fonts import cjk_fonts
from training.html_pages import HtmlDoc, HtmlPagePool, HtmlPages, face_css, line_crops, merge_lines
from training.pages import Page, curve_page, photograph
from training.real_data import IGNORE

playwright = pytest.importorskip("playwright.sync_api")

# A corpus of our own: training/data/ is generated and git-ignored, and a handful of lines is enough.
ZH = [
    "这是一个用于测试的段落，它描述了软件包的安装方法和配置文件的位置。",
    "系统管理员可以通过命令行工具检查服务的状态，并在需要时重新启动它们。",
    "文档中的每一个例子都经过仔细的检查，读者可以直接复制使用。",
    "如果程序无法找到配置文件，它会使用默认值并在日志中记录一条警告。",
]
ZH_TW = [
    "這是一個用於測試的段落，它描述了軟體套件的安裝方法與設定檔的位置。",
    "系統管理員可以透過命令列工具檢查服務的狀態，並在需要時重新啟動它們。",
    "文件中的每一個範例都經過仔細的檢查，讀者可以直接複製使用。",
    "如果程式無法找到設定檔，它會使用預設值並在記錄檔中寫下一條警告。",
]
EN = [
    "The program reads its configuration from the file named on the command line.",
    "Each option may be given more than once; the last value wins.",
    "Permission is hereby granted to use, copy and modify this software.",
    "See the manual page for a full description of the available commands.",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    data = tmp_path_factory.mktemp("corpus")
    for name, lines in (("zh", ZH), ("zh_tw", ZH_TW), ("en", EN)):
        (data / f"corpus_{name}.txt").write_text("\n".join(lines * 10) + "\n", encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def browser():
    from training.html_pages import Browser
    from web.local_stack import chromium_path

    if not os.access(chromium_path(), os.X_OK):
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def pages(corpus, browser):
    return HtmlPages(seed=3, data_dir=corpus, renderer=browser)


def _ink(page: Page) -> np.ndarray:
    return page.image < 128  # plain pages: black on white


def _inside(quads: np.ndarray, shape, grow: int = 2) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for q in quads:
        cv2.fillPoly(mask, [np.round(q).astype(np.int32)], 1)
    return cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0


@pytest.mark.parametrize("kind", ["exam", "slide", "table"])
def test_plain_page_boxes_hold_the_text_and_little_else(pages, kind):
    page = pages(kind=kind, dpi=72, plain=True)
    h, w = page.image.shape
    labelled = [i for i, t in enumerate(page.texts) if t != IGNORE]
    assert len(labelled) >= 5
    ink = _ink(page)
    for i in labelled:
        x0, y0 = np.floor(page.quads[i].min(0)).astype(int)
        x1, y1 = np.ceil(page.quads[i].max(0)).astype(int)
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert ink[y0:y1, x0:x1].any(), page.texts[i]
    # what lies outside every box is rules and underlines at most
    outside = ink & ~_inside(page.quads, ink.shape)
    assert outside.sum() < 0.15 * ink.sum()


def test_dense_newspaper_has_many_narrow_lines(pages):
    page = pages(kind="newspaper", dpi=72, plain=True)
    widths = page.quads[:, 1, 0] - page.quads[:, 0, 0]
    assert len(page.quads) > 150
    assert np.median(widths) < page.image.shape[1] / 3  # three or more columns
    ink = _ink(page)
    assert (ink & ~_inside(page.quads, ink.shape)).sum() < 0.15 * ink.sum()


def _doc(body: str, css: str = "", width: int = 400, height: int = 200, lang: str = "zh") -> HtmlDoc:
    font = cjk_fonts(lang == "zh_tw")[0]
    faces = face_css("T", font, 400)
    return HtmlDoc(
        f'<html lang="{"zh-Hant" if lang == "zh_tw" else "zh-Hans"}"><head><style>{faces} body {{ margin: 0; '
        f"font-family: T; width: {width}px; height: {height}px; overflow: hidden; }} {css}</style></head>"
        f"<body>{body}</body></html>",
        width,
        height,
        "test",
        lang,
    )


def test_box_is_the_detector_band_and_one_visual_line_is_one_line(pages):
    # 20 px type: every box is 1.1 em tall ([baseline - 0.88 em, baseline + 0.22 em]); the bold run
    # is a text node of its own but lies on the first visual line, so it joins that line's box
    doc = _doc(
        '<p style="font-size: 20px; line-height: 2; margin: 10px; width: 300px;">'
        f"{ZH[0][:8]}<b>{ZH[0][8:11]}</b>{ZH[0][11:]}{ZH[1]}</p>",
        height=300,
    )
    scale = 150 / 96
    page = pages.render(doc, 150)
    heights = page.quads[:, 2, 1] - page.quads[:, 0, 1]
    assert len(page.quads) >= 3
    assert np.allclose(heights, 22 * scale, atol=0.6 * scale)  # Chromium rounds the metrics to whole CSS pixels
    assert page.texts[0].startswith(ZH[0][:12])  # the bold run is inside the first line
    assert "".join(page.texts) == ZH[0] + ZH[1]


def test_text_the_page_hides_is_dropped_and_cut_lines_are_dont_care(pages):
    body = (
        '<div style="height: 62px; overflow: hidden; font-size: 20px; line-height: 40px; width: 380px;">'
        + "".join(f"<p style='margin: 0'>{t}</p>" for t in ZH[:3])
        + "</div>"
    )
    page = pages.render(_doc(body), 96)
    # 40-px lines of 22-px boxes: line 1 lies in the 62-px box, line 2 (49-71) is cut by its edge, line 3 is hidden
    assert page.texts[0] == ZH[0][: len(page.texts[0])] and page.texts[0] != IGNORE
    assert page.texts[1:] == [IGNORE]


def test_merge_lines_joins_a_row_and_splits_it_at_wide_gaps():
    # a superscript at the end of the line is sorted first (it sits higher) but joins its row;
    # a fragment far to the right is a line of its own
    frags = [
        [0, 10, 20, 60, 31, False, "Definition", 0, 0, 500, 500],
        [0, 63, 20, 120, 31, False, " x", 0, 0, 500, 500],
        [0, 121, 17, 127, 26, False, "2", 0, 0, 500, 500],
        [0, 300, 20, 350, 31, False, "right", 0, 0, 500, 500],
    ]
    lines = merge_lines(frags, 500, 500)
    assert sorted(t for _, t in lines) == ["Definition x2", "right"]
    assert sorted(b for b, _ in lines) == [(10, 17, 127, 31), (300, 20, 350, 31)]


def test_a_paragraph_across_columns_stays_in_its_columns(pages):
    # one text node flows from the first column into the second with a narrow gap between them
    text = "".join(ZH * 2)
    body = (
        '<div style="column-count: 2; column-gap: 6px; column-fill: auto; height: 120px; width: 380px; '
        f'font-size: 12px; line-height: 1.3;"><p>{text}</p></div>'
    )
    page = pages.render(_doc(body, height=200), 96)
    widths = page.quads[:, 1, 0] - page.quads[:, 0, 0]
    assert len(page.quads) > 12 and widths.max() <= (380 - 6) / 2 + 1
    assert page.quads[:, 0, 0].max() > 190  # the second column is there


def test_dpi_scales_the_boxes(pages):
    doc = _doc(f'<p style="font-size: 16px; margin: 20px 30px;">{ZH[2]}</p>', width=500, height=120)
    low, high = pages.render(doc, 72), pages.render(doc, 216)
    assert high.image.shape[0] == pytest.approx(3 * low.image.shape[0], abs=1)
    assert low.texts == high.texts
    assert np.allclose(high.quads, 3 * low.quads, atol=3.0)


def test_traditional_text_is_drawn_with_a_traditional_face(pages, browser):
    page = pages(kind="slide", lang="zh_tw", dpi=72, plain=True)
    assert any("\u4e00" <= ch <= "\u9fff" for t in page.texts for ch in t)
    families = browser.fonts_of("p")  # the last page rendered is still loaded
    cjk = [f for f in families if "CJK" in f or "AR PL" in f or "WenQuanYi" in f]
    assert cjk and all(" TC" in f or f.endswith(" TW") for f in cjk), families


def test_degradations_keep_quads_on_their_lines(pages):
    page = pages(kind="exam", dpi=100, plain=True)
    page = Page(image=page.image, quads=page.quads, texts=page.texts, ink=_ink(page), kind=page.kind)
    keep = np.array([t != IGNORE for t in page.texts])
    for seed in range(3):
        rng = random.Random(seed)
        for out in (curve_page(page, rng, amount=0.04), photograph(page, rng)):
            assert out.quads.shape == page.quads.shape and out.texts == page.texts
            assert out.image.shape == out.ink.shape
            # the ink carried through the same geometry still lies in the carried boxes
            heights = np.linalg.norm(out.quads[:, 3] - out.quads[:, 0], axis=1)
            inside = _inside(out.quads[keep], out.ink.shape, grow=int(0.3 * np.median(heights)) + 1)
            assert (out.ink & inside).sum() > 0.8 * out.ink.sum()
            for q in out.quads[keep]:
                x0, y0 = np.floor(q.min(0)).astype(int).clip(0)
                x1, y1 = np.ceil(q.max(0)).astype(int)
                assert out.ink[y0:y1, x0:x1].any()


def test_pool_reuses_renders_and_refreshes_them(pages):
    renders = []

    def render():
        renders.append(pages(kind="slide", dpi=72, plain=True))
        return renders[-1]

    pool = HtmlPagePool(seed=0, size=2, refresh_every=3, pages=render)
    rng = random.Random(0)
    drawn = [pool.sample(rng) for _ in range(6)]
    assert len(renders) == 4  # two to fill the pool, then one every third draw
    assert all(any(d is r for r in renders) for d in drawn)


def test_line_crops_are_labelled_lines(pages):
    page = pages(kind="table", dpi=100, plain=True)
    crops = list(line_crops([page]))
    assert len(crops) == sum(t != IGNORE for t in page.texts)
    for img, text in crops:
        assert text != IGNORE and text.strip()
        assert img.ndim == 2 and img.shape[0] >= 4 and (img < 128).any()


def test_detector_mix_takes_html_pages_from_the_pool(pages):
    from pipeline.preprocess import WORKING_SIDE
    from training.train_ctpn import working_page

    pool = HtmlPagePool(seed=0, size=1, pages=lambda: pages(kind="exam", dpi=72, plain=True))
    rng = random.Random(1)
    page = working_page(None, None, rng, 0.0, [], 0.0, html=pool, html_fraction=1.0)
    h, w = page.image.shape
    assert max(h, w) >= WORKING_SIDE and len(page.quads) == len(pool.pool[0].quads) >= 5
    inside = (
        (page.quads[..., 0] >= -2) & (page.quads[..., 0] <= w + 2) & (page.quads[..., 1] >= -2) & (page.quads[..., 1] <= h + 2)
    )
    assert inside.mean() > 0.95


def test_a_dead_browser_is_restarted(pages, browser):
    browser.call(lambda: browser._browser.close())  # as if Chromium had crashed under the training run
    page = pages(kind="slide", dpi=72, plain=True)
    assert len(page.quads) >= 3


def test_motion_blur_smears_along_one_direction():
    from training import augment

    img = np.full((41, 41), 255, np.uint8)
    img[20, 20] = 0
    out = augment.motion_blur(img, random.Random(2), longest=11)
    ys, xs = np.nonzero(out < 250)
    spread = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(float)))
    assert len(xs) >= 3 and spread[1] > 4 * max(spread[0], 0.05)  # a short line, not a blot


def test_moire_adds_broad_bands():
    from training import augment

    flat = np.full((200, 300), 200, np.uint8)
    out = augment.moire(flat, random.Random(5))
    assert out.shape == flat.shape and out.dtype == np.uint8
    # aliasing leaves variation at scales far above the grating's 2-4 px period
    assert cv2.GaussianBlur(out.astype(np.float32), (0, 0), 4).std() > 0.5


def test_renders_beside_another_playwright_user_of_this_thread(corpus):
    # The browser tests hold a sync Playwright open for the whole session; the sync API refuses
    # a second one on a thread whose event loop is in use, so the page renderer has its own thread.
    from playwright.sync_api import Error, sync_playwright

    from training.html_pages import Browser

    try:
        other = sync_playwright().start()
    except Error:  # the browser tests' session Playwright already holds this thread: the case itself
        other = None
    own = Browser()
    try:
        doc = _doc(f"<p>{EN[0]}</p>", width=400, height=100)
        page = HtmlPages(seed=5, data_dir=corpus, renderer=own).render(doc, 96)
        assert page.texts and page.image.shape[0] == 100
    finally:
        own.close()
        if other is not None:
            other.stop()
