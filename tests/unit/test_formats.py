import json
import xml.etree.ElementTree as ET

from pipeline.formats import to_hocr, to_json, to_text
from pipeline.formats.layout import text_run, token_spans
from pipeline.result import Document, Line, Page

XHTML = "{http://www.w3.org/1999/xhtml}"


def line(text, bbox, confidence, char_confidences=()):
    x0, y0, x1, y1 = bbox
    return Line(text, confidence, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], bbox, list(char_confidences))


def sample_document() -> Document:
    return Document(
        pages=[
            Page(
                1,
                640,
                480,
                0,
                0.99,
                [
                    line("Hello World", (100, 50, 320, 80), 0.9**5 * 0.8**5, [0.9] * 5 + [1.0] + [0.8] * 5),
                    line("中文识别 OCR", (100, 100, 300, 140), 0.87),
                    line('a<b & "c">', (10.4, 200.6, 99.5, 220.2), 0.5),
                ],
            ),
            Page(3, 300, 400, 90, 0.8, [line("ab cd", (10, 20, 40, 220), 0.75)]),
            Page(4, 10, 10, 0, 1.0, []),
        ],
        lang="mix",
    )


EXPECTED_HOCR = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="zh" lang="zh">
 <head>
  <title>OCR result</title>
  <meta http-equiv="Content-Type" content="text/html; charset=utf-8"/>
  <meta name="ocr-system" content="ocr-platform"/>
  <meta name="ocr-capabilities" content="ocr_page ocr_line ocrx_word ocrp_wconf"/>
  <meta name="ocr-number-of-pages" content="3"/>
 </head>
 <body>
  <div class="ocr_page" id="page_1" title="bbox 0 0 640 480; ppageno 0">
   <span class="ocr_line" id="line_1_1" title="bbox 100 50 320 80; x_wconf 19">
    <span class="ocrx_word" id="word_1_1_1" title="bbox 100 50 200 80; x_wconf 59">Hello</span>
    <span class="ocrx_word" id="word_1_1_2" title="bbox 220 50 320 80; x_wconf 33">World</span>
   </span>
   <span class="ocr_line" id="line_1_2" title="bbox 100 100 300 140; x_wconf 87">
    <span class="ocrx_word" id="word_1_2_1" title="bbox 100 100 234 140; x_wconf 87">中文识别</span>
    <span class="ocrx_word" id="word_1_2_2" title="bbox 250 100 300 140; x_wconf 87">OCR</span>
   </span>
   <span class="ocr_line" id="line_1_3" title="bbox 10 200 100 221; x_wconf 50">
    <span class="ocrx_word" id="word_1_3_1" title="bbox 10 200 38 221; x_wconf 50">a&lt;b</span>
    <span class="ocrx_word" id="word_1_3_2" title="bbox 46 200 55 221; x_wconf 50">&amp;</span>
    <span class="ocrx_word" id="word_1_3_3" title="bbox 63 200 100 221; x_wconf 50">"c"&gt;</span>
   </span>
  </div>
  <div class="ocr_page" id="page_3" title="bbox 0 0 300 400; ppageno 2">
   <span class="ocr_line" id="line_3_1" title="bbox 10 20 40 220; textangle 270; x_wconf 75">
    <span class="ocrx_word" id="word_3_1_1" title="bbox 10 20 40 100; x_wconf 75">ab</span>
    <span class="ocrx_word" id="word_3_1_2" title="bbox 10 140 40 220; x_wconf 75">cd</span>
   </span>
  </div>
  <div class="ocr_page" id="page_4" title="bbox 0 0 10 10; ppageno 3">
  </div>
 </body>
</html>
"""


def test_text_is_lines_in_order_with_form_feeds_between_pages():
    assert to_text(sample_document()) == 'Hello World\n中文识别 OCR\na<b & "c">\n\fab cd\n\f'
    assert to_text(Document()) == ""


def test_json_is_the_document_dict_and_round_trips():
    doc = sample_document()
    assert to_json(doc) == doc.to_dict()
    assert Document.from_dict(json.loads(json.dumps(to_json(doc)))) == doc


def test_json_schema_is_stable():
    doc = Document(
        pages=[Page(2, 100, 50, 180, 0.75, [line("中文 ok", (1, 2, 30, 12), 0.5, [0.5, 1.0, 1.0, 1.0, 1.0])])], lang="zh"
    )
    assert json.loads(json.dumps(to_json(doc))) == {
        "lang": "zh",
        "pages": [
            {
                "page_number": 2,
                "width": 100,
                "height": 50,
                "angle": 180,
                "angle_confidence": 0.75,
                "lines": [
                    {
                        "text": "中文 ok",
                        "confidence": 0.5,
                        "polygon": [[1, 2], [30, 2], [30, 12], [1, 12]],
                        "bbox": [1, 2, 30, 12],
                        "char_confidences": [0.5, 1.0, 1.0, 1.0, 1.0],
                    }
                ],
                "skew": 0.0,
                "timings": {},
                "warnings": [],
            }
        ],
    }


def test_hocr_is_exactly_as_expected():
    assert to_hocr(sample_document()) == EXPECTED_HOCR


def titles(element) -> dict:
    props = {}
    for part in element.get("title").split(";"):
        key, *values = part.split()
        props[key] = values
    return props


def test_hocr_is_well_formed_xhtml_with_hocr_properties():
    root = ET.fromstring(to_hocr(sample_document()).encode("utf-8"))
    assert root.tag == f"{XHTML}html"
    metas = {m.get("name"): m.get("content") for m in root.iter(f"{XHTML}meta") if m.get("name")}
    assert metas["ocr-system"] and "ocr_line" in metas["ocr-capabilities"].split()
    pages = [e for e in root.iter() if e.get("class") == "ocr_page"]
    assert [titles(p)["ppageno"] for p in pages] == [["0"], ["2"], ["3"]]
    assert titles(pages[0])["bbox"] == ["0", "0", "640", "480"]
    lines = [e for e in pages[0] if e.get("class") == "ocr_line"]
    assert [titles(e)["bbox"] for e in lines] == [
        ["100", "50", "320", "80"],
        ["100", "100", "300", "140"],
        ["10", "200", "100", "221"],
    ]
    words = [e.text for e in pages[0].iter() if e.get("class") == "ocrx_word"]
    assert words == ["Hello", "World", "中文识别", "OCR", "a<b", "&", '"c">']
    for word in (e for e in root.iter() if e.get("class") == "ocrx_word"):
        x0, y0, x1, y1 = map(int, titles(word)["bbox"])
        assert 0 <= x0 <= x1 and 0 <= y0 <= y1 and 0 <= int(titles(word)["x_wconf"][0]) <= 100


def test_hocr_parses_with_lxml_too():
    from lxml import etree

    root = etree.fromstring(to_hocr(sample_document()).encode("utf-8"), etree.XMLParser(no_network=True, resolve_entities=False))
    assert len(root.xpath("//*[@class='ocrx_word']")) == 9


def test_hocr_drops_characters_xml_cannot_hold():
    doc = Document(pages=[Page(1, 50, 20, 0, 1.0, [line("a\x00b\x1bc", (0, 0, 50, 20), 0.9)])])
    root = ET.fromstring(to_hocr(doc).encode("utf-8"))
    assert [e.text for e in root.iter() if e.get("class") == "ocrx_word"] == ["abc"]


def test_token_spans_give_cjk_twice_the_room():
    assert token_spans("中文 ab") == [(0, 2, 0.0, 2000 / 3500), (3, 5, 2500 / 3500, 1.0)]
    assert token_spans("  ") == []
    assert token_spans("") == []


def test_text_runs_follow_the_page_rotation():
    box = (10, 20, 40, 220)
    assert [(r.start, r.direction, r.length, r.height) for r in (text_run(box, a) for a in (0, 90, 180, 270))] == [
        ((10, 220), (1, 0), 30, 200),
        ((10, 20), (0, 1), 200, 30),
        ((40, 20), (-1, 0), 30, 200),
        ((40, 220), (0, -1), 200, 30),
    ]
