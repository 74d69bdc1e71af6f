import json
import xml.etree.ElementTree as ET

import pytest

from pipeline.formats import to_hocr, to_json, to_text
from pipeline.formats.layout import text_run
from pipeline.result import Block, Document, Line, Page, Word, box_polygon

XHTML = "{http://www.w3.org/1999/xhtml}"


def line(text, bbox, confidence, char_confidences=(), words=()):
    x0, y0, x1, y1 = bbox
    return Line(text, confidence, box_polygon(bbox), bbox, list(char_confidences), list(words))


def word(text, bbox, confidence):
    return Word(text, confidence, box_polygon(bbox), bbox)


def sample_document() -> Document:
    hello = line(
        "Hello World",
        (100, 50, 320, 80),
        0.9**5 * 0.8**5,
        [0.9] * 5 + [1.0] + [0.8] * 5,
        [word("Hello", (101, 52, 190, 79), 0.9), word("World", (212.4, 51, 318.6, 79), 0.8)],
    )
    chinese = line(
        "中文识别 OCR",
        (100, 100, 300, 140),
        0.87,
        words=[word(c, (102 + 30 * i, 102, 128 + 30 * i, 138), 0.9) for i, c in enumerate("中文识别")]
        + [word("OCR", (235, 104, 298, 136), 0.8)],
    )
    legacy = line('a<b & "c">', (10.4, 200.6, 99.5, 220.2), 0.5)  # no words: a version 1 line
    return Document(
        pages=[
            Page(
                1,
                640,
                480,
                0,
                0.99,
                blocks=[Block.of_lines([hello, chinese]), Block.of_lines([legacy])],
                source_page=4,
                file_name='scan "A".pdf',
                file_index=0,
            ),
            Page(
                3,
                300,
                400,
                90,
                0.8,
                [
                    line(
                        "ab cd",
                        (10, 20, 40, 220),
                        0.75,
                        words=[word("ab", (10, 20, 40, 100), 0.7), word("cd", (10, 140, 40, 220), 0.8)],
                    )
                ],
            ),
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
  <meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"/>
  <meta name="ocr-number-of-pages" content="3"/>
 </head>
 <body>
  <div class="ocr_page" id="page_1" title="bbox 0 0 640 480; ppageno 3; x_source &quot;scan \\&quot;A\\&quot;.pdf&quot;">
   <div class="ocr_carea" id="block_1_1" title="bbox 100 50 320 140">
    <p class="ocr_par" id="par_1_1" title="bbox 100 50 320 140">
     <span class="ocr_line" id="line_1_1" title="bbox 100 50 320 80; x_wconf 19">
      <span class="ocrx_word" id="word_1_1_1" title="bbox 101 52 190 79; x_wconf 90">Hello</span>
      <span class="ocrx_word" id="word_1_1_2" title="bbox 212 51 319 79; x_wconf 80">World</span>
     </span>
     <span class="ocr_line" id="line_1_2" title="bbox 100 100 300 140; x_wconf 87">
      <span class="ocrx_word" id="word_1_2_1" title="bbox 102 102 128 138; x_wconf 90">中</span>
      <span class="ocrx_word" id="word_1_2_2" title="bbox 132 102 158 138; x_wconf 90">文</span>
      <span class="ocrx_word" id="word_1_2_3" title="bbox 162 102 188 138; x_wconf 90">识</span>
      <span class="ocrx_word" id="word_1_2_4" title="bbox 192 102 218 138; x_wconf 90">别</span>
      <span class="ocrx_word" id="word_1_2_5" title="bbox 235 104 298 136; x_wconf 80">OCR</span>
     </span>
    </p>
   </div>
   <div class="ocr_carea" id="block_1_2" title="bbox 10 200 100 221">
    <p class="ocr_par" id="par_1_2" title="bbox 10 200 100 221">
     <span class="ocr_line" id="line_1_3" title="bbox 10 200 100 221; x_wconf 50">a&lt;b &amp; "c"&gt;</span>
    </p>
   </div>
  </div>
  <div class="ocr_page" id="page_3" title="bbox 0 0 300 400; ppageno 2">
   <div class="ocr_carea" id="block_3_1" title="bbox 10 20 40 220">
    <p class="ocr_par" id="par_3_1" title="bbox 10 20 40 220">
     <span class="ocr_line" id="line_3_1" title="bbox 10 20 40 220; textangle 270; x_wconf 75">
      <span class="ocrx_word" id="word_3_1_1" title="bbox 10 20 40 100; x_wconf 70">ab</span>
      <span class="ocrx_word" id="word_3_1_2" title="bbox 10 140 40 220; x_wconf 80">cd</span>
     </span>
    </p>
   </div>
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
    words = [word("中", (1, 2, 10, 12), 0.5), word("文", (11, 2, 20, 12), 1.0), word("ok", (22, 3, 30, 12), 1.0)]
    doc = Document(
        pages=[
            Page(
                2,
                100,
                50,
                180,
                0.75,
                [line("中文 ok", (1, 2, 30, 12), 0.5, [0.5, 1.0, 1.0, 1.0, 1.0], words)],
                source_page=7,
                file_name="a.tif",
                file_index=1,
            )
        ],
        lang="zh",
    )
    v1_line = {
        "text": "中文 ok",
        "confidence": 0.5,
        "polygon": [[1, 2], [30, 2], [30, 12], [1, 12]],
        "bbox": [1, 2, 30, 12],
        "char_confidences": [0.5, 1.0, 1.0, 1.0, 1.0],
    }
    v2_words = [
        {"text": "中", "confidence": 0.5, "polygon": [[1, 2], [10, 2], [10, 12], [1, 12]], "bbox": [1, 2, 10, 12]},
        {"text": "文", "confidence": 1.0, "polygon": [[11, 2], [20, 2], [20, 12], [11, 12]], "bbox": [11, 2, 20, 12]},
        {"text": "ok", "confidence": 1.0, "polygon": [[22, 3], [30, 3], [30, 12], [22, 12]], "bbox": [22, 3, 30, 12]},
    ]
    assert json.loads(json.dumps(to_json(doc))) == {
        "schema_version": 2,
        "lang": "zh",
        "pages": [
            {
                "page_number": 2,
                "source_page": 7,
                "file_name": "a.tif",
                "file_index": 1,
                "text_source": "ocr",
                "width": 100,
                "height": 50,
                "angle": 180,
                "angle_confidence": 0.75,
                "skew": 0.0,
                "blocks": [
                    {
                        "polygon": [[1, 2], [30, 2], [30, 12], [1, 12]],
                        "bbox": [1, 2, 30, 12],
                        "confidence": 0.5,
                        "lines": [{**v1_line, "words": v2_words}],
                    }
                ],
                "lines": [v1_line],  # deprecated: version 1's flat view, kept for one release
                "timings": {},
                "warnings": [],
            }
        ],
    }


def test_a_version_1_result_still_loads():
    """Results stored before schema version 2 (in the database, in storage) read as one block per page."""
    v1 = {
        "lang": "en",
        "pages": [
            {
                "page_number": 3,
                "width": 200,
                "height": 100,
                "angle": 0,
                "angle_confidence": 0.98,
                "lines": [
                    {
                        "text": "first",
                        "confidence": 0.9,
                        "polygon": [[10, 10], [90, 10], [90, 30], [10, 30]],
                        "bbox": [10, 10, 90, 30],
                    },
                    {
                        "text": "second",
                        "confidence": 0.4,
                        "polygon": [[12, 40], [150, 40], [150, 60], [12, 60]],
                        "bbox": [12, 40, 150, 60],
                        "char_confidences": [0.4] * 6,
                    },
                ],
                "skew": 0.5,
                "timings": {"total": 1.0},
                "warnings": [],
            }
        ],
    }
    doc = Document.from_dict(v1)
    [page] = doc.pages
    assert (page.page_number, page.source_page, page.file_name, page.text_source) == (3, 3, None, "ocr")
    [block] = page.blocks
    assert [ln.text for ln in block.lines] == ["first", "second"] and block.bbox == (10, 10, 150, 60)
    assert block.confidence == round((0.9**5 * 0.4**6) ** (1 / 11), 4)  # over the characters, as a line's is
    assert page.text == "first\nsecond" and all(ln.words == [] for ln in page.lines)
    exported = doc.export()
    assert exported["schema_version"] == 2
    assert [ln["text"] for ln in exported["pages"][0]["lines"]] == ["first", "second"]
    assert Document.from_dict(exported) == doc
    with pytest.raises(ValueError):
        Document.from_dict({**v1, "schema_version": 3})


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
    assert [titles(p)["ppageno"] for p in pages] == [["3"], ["2"], ["3"]]  # source pages 4, 3 and 4
    assert titles(pages[0])["bbox"] == ["0", "0", "640", "480"]
    areas = [e for e in pages[0] if e.get("class") == "ocr_carea"]
    assert [titles(a)["bbox"] for a in areas] == [["100", "50", "320", "140"], ["10", "200", "100", "221"]]
    lines = [e for e in pages[0].iter() if e.get("class") == "ocr_line"]
    assert [titles(e)["bbox"] for e in lines] == [
        ["100", "50", "320", "80"],
        ["100", "100", "300", "140"],
        ["10", "200", "100", "221"],
    ]
    words = [e.text for e in pages[0].iter() if e.get("class") == "ocrx_word"]
    assert words == ["Hello", "World", "中", "文", "识", "别", "OCR"]
    assert lines[2].text == 'a<b & "c">'  # a line without words holds its text
    for word in (e for e in root.iter() if e.get("class") == "ocrx_word"):
        x0, y0, x1, y1 = map(int, titles(word)["bbox"])
        assert 0 <= x0 <= x1 and 0 <= y0 <= y1 and 0 <= int(titles(word)["x_wconf"][0]) <= 100


def test_hocr_parses_with_lxml_too():
    from lxml import etree

    root = etree.fromstring(to_hocr(sample_document()).encode("utf-8"), etree.XMLParser(no_network=True, resolve_entities=False))
    assert len(root.xpath("//*[@class='ocrx_word']")) == 9
    assert len(root.xpath("//*[@class='ocr_carea']/*[@class='ocr_par']/*[@class='ocr_line']")) == 4


def test_hocr_drops_characters_xml_cannot_hold():
    doc = Document(pages=[Page(1, 50, 20, 0, 1.0, [line("a\x00b\x1bc", (0, 0, 50, 20), 0.9)])])
    root = ET.fromstring(to_hocr(doc).encode("utf-8"))
    assert [e.text for e in root.iter() if e.get("class") == "ocr_line"] == ["abc"]


def test_text_runs_follow_the_page_rotation():
    box = (10, 20, 40, 220)
    assert [(r.start, r.direction, r.length, r.height) for r in (text_run(box, a) for a in (0, 90, 180, 270))] == [
        ((10, 220), (1, 0), 30, 200),
        ((10, 20), (0, 1), 200, 30),
        ((40, 20), (-1, 0), 30, 200),
        ((40, 220), (0, -1), 200, 30),
    ]
