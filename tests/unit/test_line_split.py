"""A detected line whose words lie far apart comes out as several lines (form labels and values, cells)."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.ctpn.textline import DetectedLine
from pipeline.pipeline import Pipeline, get_pipeline
from pipeline.words import PlacedWord, split_at_gaps

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def word(first, end, x0, x1):
    return PlacedWord(first, end, 0.99, (x0, 2.0, x1, 30.0))


def test_runs_part_where_the_blank_is_wider_than_the_limit():
    words = [word(0, 5, 0, 60), word(6, 9, 75, 110), word(10, 15, 200, 260), word(16, 20, 270, 320)]
    runs = split_at_gaps(words, line_height=30, max_gap=2.0)  # 90 px blank between the 2nd and 3rd
    assert [[w.first for w in run] for run in runs] == [[0, 6], [10, 16]]
    assert split_at_gaps(words, line_height=30, max_gap=3.5) == [words]
    assert split_at_gaps([], 30, 2.0) == []


def test_a_colon_ended_label_parts_from_its_field_at_a_shorter_blank():
    text = "Company: B.A.T. CYPRUS Ltd. Fax: 12"
    words = [word(0, 8, 0, 90), word(9, 15, 125, 190), word(16, 22, 200, 280), word(23, 27, 290, 330)]
    words += [word(28, 32, 345, 385), word(33, 35, 395, 420)]
    # a 35 px blank is 1.17 line heights: wide enough after "Company:", not after "B.A.T."
    runs = split_at_gaps(words, line_height=30, max_gap=2.0, text=text, label_gap=1.0)
    assert [[text[w.first : w.end] for w in run] for run in runs] == [["Company:"], ["B.A.T.", "CYPRUS", "Ltd.", "Fax:", "12"]]
    # "Fax:" is followed by a 10 px blank: one line; and without the text no label is known
    assert split_at_gaps(words, line_height=30, max_gap=2.0, label_gap=1.0) == [words]
    assert split_at_gaps(words, line_height=30, max_gap=2.0, text=text) == [words]


class OneLine:
    """A detector that chained everything on the row into one line, as CTPN does across a short gap."""

    def __init__(self, box):
        self.box = box

    def __call__(self, working):
        x0, y0, x1, y1 = self.box
        return [DetectedLine(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32), 0.9, 20)]


def test_a_label_and_its_far_value_become_two_lines_with_their_own_boxes():
    img = Image.new("L", (1280, 200), 255)  # 1280 wide: working pixels are page pixels
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 28)
    draw.text((40, 80), "Name:", font=font, fill=0)
    draw.text((600, 80), "John Smith", font=font, fill=0)
    label = draw.textbbox((40, 80), "Name:", font=font)
    value = draw.textbbox((600, 80), "John Smith", font=font)
    base = get_pipeline("en", "cpu")
    row = (label[0] - 4, label[1] - 6, value[2] + 4, value[3] + 6)
    pipeline = Pipeline(None, base.preprocessor, OneLine(row), base.recognizer, lang="en", leftovers=False)
    page = pipeline.run_page(img, detect_orientation=False)
    assert [line.text for line in page.lines] == ["Name:", "John Smith"]
    (lx0, _, lx1, _), (vx0, _, vx1, _) = (line.bbox for line in page.lines)
    assert lx0 < label[0] + 5 and label[2] - 5 < lx1 < value[0]
    assert label[2] < vx0 < value[0] + 5 and vx1 > value[2] - 5
    assert all(len(line.char_confidences) == len(line.text) for line in page.lines)
    assert [w.text for w in page.lines[1].words] == ["John", "Smith"]
    # without splitting, the same detection is one line
    whole = Pipeline(None, base.preprocessor, OneLine(row), base.recognizer, lang="en", leftovers=False, split_gap=None)
    assert [line.text.split() for line in whole.run_page(img, detect_orientation=False).lines] == [["Name:", "John", "Smith"]]
