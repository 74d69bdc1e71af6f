"""lang=en: the recognizer's CJK classes are masked, so English output never holds Chinese characters."""

import unicodedata

from PIL import Image, ImageDraw, ImageFont

from pipeline.pipeline import get_pipeline


def test_lang_en_says_no_chinese_even_on_a_chinese_page():
    # the shipped models on a page of Chinese: the mixed pipeline reads hanzi, the English one may
    # guess Latin letters for them but never emits a CJK character (its classes are masked)
    cjk_font = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    img = Image.new("L", (1000, 600), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(cjk_font, 32)
    for i, text in enumerate(["中华人民共和国国家标准", "文字识别系统测试页面", "第三行 mixed 文字 2026"]):
        draw.text((60, 80 + 90 * i), text, font=font, fill=0)
    mixed = get_pipeline("mix", "cpu").run_page(img, detect_orientation=False)
    assert any("\u4e00" <= ch <= "\u9fff" for line in mixed.lines for ch in line.text)
    english = get_pipeline("en", "cpu").run_page(img, detect_orientation=False)
    assert english.lines
    assert not any(unicodedata.east_asian_width(ch) in ("W", "F") for line in english.lines for ch in line.text)
