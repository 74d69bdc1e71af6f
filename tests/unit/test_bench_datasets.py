"""Ground-truth builders of the benchmark on tiny hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench.datasets import funsd_lines, msra_lines, rotated_rectangle
from bench.degrade import scan_degrade
from bench.engines import parse_tsv
from bench.metrics import TextLine, box_to_polygon
from bench.render import join_row_pieces, parse_bbox_layout, usable


def bounds(line: TextLine) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in line.polygon], [p[1] for p in line.polygon]
    return min(xs), min(ys), max(xs), max(ys)


def test_funsd_entity_words_become_lines_by_vertical_overlap():
    annotation = {
        "form": [
            {
                "id": 0,
                "text": "Please return to",
                "words": [  # one entity over two lines, words out of order
                    {"box": [10, 30, 50, 42], "text": "return"},
                    {"box": [60, 31, 80, 43], "text": "to"},
                    {"box": [10, 10, 60, 22], "text": "Please"},
                ],
            },
            {"id": 1, "text": "TO:", "words": [{"box": [100, 10, 130, 24], "text": "TO:"}]},
            {"id": 2, "text": "", "words": [{"box": [0, 0, 40, 40], "text": ""}]},  # a logo: no text, no line
            {
                "id": 3,
                "text": "a b",
                "words": [
                    {"box": [200, 10, 220, 20], "text": "b"},
                    {"box": [150, 11, 170, 21], "text": " a "},
                ],
            },
        ]
    }
    lines = funsd_lines(annotation)
    assert [line.text for line in lines] == ["Please", "return to", "TO:", "a b"]
    assert [bounds(line) for line in lines] == [(10, 10, 60, 22), (10, 30, 80, 43), (100, 10, 130, 24), (150, 10, 220, 21)]


def test_funsd_words_overlapping_less_than_half_stay_apart():
    annotation = {
        "form": [
            {
                "words": [
                    {"box": [0, 0, 20, 10], "text": "up"},
                    {"box": [30, 6, 50, 16], "text": "down"},  # 4 px of 10 overlap
                ]
            }
        ]
    }
    assert [line.text for line in funsd_lines(annotation)] == ["up", "down"]


def test_msra_rotated_rectangle_turns_clockwise_about_the_centre():
    corners = rotated_rectangle(0, 0, 10, 2, math.pi / 2)  # centre (5, 1)
    expected = [(6, -4), (6, 6), (4, 6), (4, -4)]
    assert np.allclose(corners, expected)
    lines = msra_lines("0 0 300 675 1232 112 0.0\r\n1 1 10 10 20 5 0\r\n")
    assert [line.difficult for line in lines] == [False, True]
    assert bounds(lines[0]) == (300, 675, 1532, 787)


def test_bbox_layout_lines_scaled_and_row_pieces_joined():
    xhtml = """<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body><doc><page width="100" height="100">
      <flow><block><line xMin="10" yMin="10" xMax="20" yMax="20"><word xMin="10" yMin="10" xMax="20" yMax="20">1.2</word></line></block></flow>
      <flow><block><line xMin="25" yMin="10" xMax="60" yMax="20"><word xMin="25" yMin="10" xMax="40" yMax="20">GUI</word>
        <word xMin="42" yMin="10" xMax="60" yMax="20">&amp;下</word></line></block></flow>
      <flow><block><line xMin="90" yMin="10" xMax="99" yMax="20"><word xMin="90" yMin="10" xMax="99" yMax="20">7</word></line></block></flow>
      <flow><block><line xMin="10" yMin="30" xMax="50" yMax="40"><word xMin="10" yMin="30" xMax="30" yMax="40">next</word>
        <word xMin="32" yMin="30" xMax="50" yMax="40">\u0300chroot\u0300ed</word></line></block></flow>
    </page></doc></body></html>"""
    raw = parse_bbox_layout(xhtml, scale=2.0)
    assert [line.text for line in raw] == ["1.2", "GUI &下", "7", "next `chroot\u0300ed"]  # a lone accent is spaced
    assert bounds(raw[0]) == (20, 20, 40, 40)
    joined = join_row_pieces(raw)
    # the section number joins its title (gap 0.5 line heights); the page number is 3 heights away
    assert [(line.text, bounds(line)) for line in joined] == [
        ("1.2 GUI &下", (20, 20, 120, 40)),
        ("7", (180, 20, 198, 40)),
        ("next `chroot\u0300ed", (20, 60, 100, 80)),
    ]


def test_usable_pages_need_enough_lines_and_chinese_for_zh():
    english = [TextLine(box_to_polygon(0, i * 20, 100, i * 20 + 10), "some words") for i in range(15)]
    chinese = [TextLine(line.polygon, "中文的一行") for line in english]
    assert usable(english, "en") and not usable(english, "zh")
    assert usable(chinese, "zh")
    assert not usable(english[:14], "en")
    assert not usable(english[:14] + [TextLine(english[14].polygon, "bad \ufffd")], "en")


def test_scan_degrade_is_deterministic_and_moves_boxes_with_the_page():
    page = Image.new("L", (400, 300), 255)
    ImageDraw.Draw(page).rectangle((100, 100, 300, 120), fill=0)
    lines = [TextLine(box_to_polygon(100, 100, 300, 120), "bar")]
    a, moved = scan_degrade(page, lines, seed=3)
    b, moved_again = scan_degrade(page, lines, seed=3)
    assert a.size == page.size and a.mode == "L"
    assert np.array_equal(np.asarray(a), np.asarray(b)) and moved == moved_again
    # the dark bar's centre of mass stays at the moved box's centre
    dark = np.argwhere(np.asarray(a) < 128)
    cy, cx = dark.mean(axis=0)
    centre = np.mean(np.asarray(moved[0].polygon), axis=0)
    assert cx == pytest.approx(centre[0], abs=1.0) and cy == pytest.approx(centre[1], abs=1.0)
    assert moved[0].polygon != lines[0].polygon  # tilted


def test_tesseract_tsv_words_group_into_lines():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t500\t500\t-1\t",
        "4\t1\t1\t1\t1\t0\t10\t10\t400\t30\t-1\t",
        "5\t1\t1\t1\t1\t1\t10\t12\t50\t20\t95.1\tHello",
        "5\t1\t1\t1\t1\t2\t70\t10\t60\t22\t93.0\tworld",
        "5\t1\t1\t1\t1\t3\t140\t10\t270\t30\t95.0\t ",  # a rule read as a blank word
        "5\t1\t1\t1\t2\t1\t10\t50\t40\t20\t90.0\t第二",
    ]
    lines = parse_tsv("\n".join([header, *rows]))
    assert [(line.text, bounds(line)) for line in lines] == [("Hello world", (10, 10, 130, 32)), ("第二", (10, 50, 50, 70))]
