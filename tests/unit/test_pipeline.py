"""The Pipeline composing its stages: coordinates, order, warnings, timings, documents."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.errors import InputError, InvalidOption
from pipeline.ctpn.textline import DetectedLine
from pipeline.nets.orientation import ANGLES
from pipeline.pipeline import NO_TEXT, Pipeline, get_pipeline, to_gray
from pipeline.preprocess import Preprocessor
from pipeline.recognizer import Recognition
from pipeline.result import Page


class FixedOrientation:
    def __init__(self, angle, confidence):
        self.result = (angle, confidence)
        self.calls = 0

    def __call__(self, gray):
        self.calls += 1
        return self.result


class FixedDetector:
    """Finds ``polygons`` on the first working image it is shown; on a copy of another size (the
    pipeline's half-size look for large text) the same lines, scaled, as a real detector would."""

    def __init__(self, polygons):
        self.polygons = polygons
        self.working_shape = None

    def __call__(self, working):
        self.working_shape = self.working_shape or working.shape
        scale = working.shape[1] / self.working_shape[1]
        return [DetectedLine(np.array(p, dtype=np.float32) * scale, 0.9, 3) for p in self.polygons]


class CropTexts:
    """Reads each crop as the text given for its size; records the crops."""

    def __init__(self, texts):
        self.texts = texts
        self.crops = []

    def __call__(self, crops):
        self.crops.extend(crops)
        return [Recognition(self.texts.get(c.shape, "?"), 0.8, [0.8] * len(self.texts.get(c.shape, "?"))) for c in crops]


def quad(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def test_lines_come_back_in_original_page_pixels_through_a_90_degree_turn():
    # a portrait page 200 x 400 given turned clockwise (400 x 200); working scale 2
    det = FixedDetector([quad(40, 100, 360, 140)])
    pipe = Pipeline(FixedOrientation(90, 0.93), Preprocessor(deskew=False), det, CropTexts({}))
    page = pipe.run_page(np.full((200, 400), 255, dtype=np.uint8), page_number=3)
    assert det.working_shape == (800, 400)
    assert (page.page_number, page.width, page.height, page.angle, page.angle_confidence) == (3, 400, 200, 90, 0.93)
    (line,) = page.lines
    # working (x, y) -> upright (x / 2, y / 2) -> original (400 - y / 2, x / 2); TL stays the text's top-left
    assert line.polygon == [(350, 20), (350, 180), (330, 180), (330, 20)]
    assert line.bbox == (330, 20, 350, 180)
    assert (line.text, line.confidence, line.char_confidences) == ("?", 0.8, [0.8])
    assert set(page.timings) == {"orientation", "preprocess", "detection", "recognition"}
    assert page.warnings == []


def test_crops_come_from_the_full_resolution_upright_page():
    rec = CropTexts({})
    pipe = Pipeline(FixedOrientation(0, 1.0), Preprocessor(deskew=False), FixedDetector([quad(100, 200, 500, 240)]), rec)
    pipe.run_page(np.full((2560, 1000), 255, dtype=np.uint8))  # working scale 0.5
    (crop,) = rec.crops
    assert crop.shape == (96, 840)  # 80 x 800 upright pixels, plus margins of 0.1 and 0.25 line heights


def test_lines_are_put_in_reading_order_and_empty_ones_dropped():
    polygons = [quad(20, 200, 300, 230), quad(20, 100, 300, 130), quad(20, 300, 300, 330)]
    pipe = Pipeline(FixedOrientation(0, 1.0), Preprocessor(deskew=False), FixedDetector(polygons), CropTexts({}))
    page = pipe.run_page(np.full((640, 480), 255, dtype=np.uint8))  # scale 2
    assert [ln.bbox[1] for ln in page.lines] == [50, 100, 150]

    pipe.recognizer = lambda crops: [Recognition(t, 0.5, [0.5] * len(t)) for t in ("a", " ", "")]
    page = pipe.run_page(np.full((640, 480), 255, dtype=np.uint8))
    assert [ln.text for ln in page.lines] == ["a"]


def test_no_lines_gives_a_warning_and_skips_nothing_else():
    pipe = Pipeline(FixedOrientation(0, 1.0), Preprocessor(), FixedDetector([]), CropTexts({}))
    page = pipe.run_page(np.full((300, 200), 255, dtype=np.uint8))
    assert page.lines == [] and page.warnings == [NO_TEXT]


def test_detections_in_the_padding_are_dropped():
    # 300 x 200 -> working scale 2: 600 x 400 content, padded to 608 x 400
    det = FixedDetector([quad(10, 601, 100, 607), quad(10, 10, 100, 40)])
    pipe = Pipeline(FixedOrientation(0, 1.0), Preprocessor(deskew=False), det, CropTexts({}))
    page = pipe.run_page(np.full((300, 200), 255, dtype=np.uint8))
    assert det.working_shape == (608, 400)
    assert [ln.bbox for ln in page.lines] == [(5, 5, 50, 20)]


def test_orientation_can_be_skipped():
    orient = FixedOrientation(180, 0.99)
    pipe = Pipeline(orient, Preprocessor(), FixedDetector([]), CropTexts({}))
    page = pipe.run_page(np.full((300, 200), 255, dtype=np.uint8), detect_orientation=False)
    assert (page.angle, page.angle_confidence, orient.calls) == (0, 1.0, 0)


def test_to_gray_accepts_pil_and_arrays():
    rgb = Image.new("RGB", (4, 3), (255, 0, 0))
    assert to_gray(rgb).shape == (3, 4) and to_gray(rgb)[0, 0] == 76  # Pillow's L of pure red
    np.testing.assert_array_equal(to_gray(np.asarray(rgb)), to_gray(rgb))
    transparent = Image.new("RGBA", (4, 3), (0, 0, 0, 0))
    assert (to_gray(transparent) == 255).all()  # transparent is paper
    assert to_gray(np.ones((3, 4), dtype=bool)).max() == 255
    assert to_gray(np.full((3, 4), 0.5)).max() == 127
    assert to_gray(Image.fromarray(np.full((3, 4), 1000, dtype=np.int32))).max() == 255
    with pytest.raises(InputError):
        to_gray(np.zeros((0, 5), dtype=np.uint8))
    with pytest.raises(InputError):
        to_gray(np.zeros((3, 4, 2), dtype=np.uint8))


def test_get_pipeline_is_cached_and_shares_networks():
    assert get_pipeline("mix", "cpu") is get_pipeline("mix", "cpu")
    assert get_pipeline("zh", "cpu").recognizer.net is get_pipeline("mix", "cpu").recognizer.net
    assert get_pipeline("en", "cpu").recognizer.net is get_pipeline("mix", "cpu").recognizer.net
    assert get_pipeline("en", "cpu").detector.net is get_pipeline("mix", "cpu").detector.net
    with pytest.raises(InvalidOption):
        get_pipeline("fr")


def rendered_page(width=800, height=1000):
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 24)
    for i in range(8):
        draw.text((60, 80 + 60 * i), f"Line {i}: the quick brown fox", font=font, fill="black")
    return img


def test_shipped_models_run_a_page_end_to_end():
    img = rendered_page()
    page = get_pipeline("en", "cpu").run_page(img)
    assert (page.width, page.height) == (800, 1000)
    assert page.angle in ANGLES and 0 <= page.angle_confidence <= 1
    assert set(page.timings) == {"orientation", "preprocess", "detection", "recognition"}
    for line in page.lines:  # untrained weights read nothing useful; the mechanics must hold
        assert all(0 <= x <= 800 and 0 <= y <= 1000 for x, y in line.polygon)
        assert 0 <= line.confidence <= 1 and len(line.char_confidences) == len(line.text)
    assert Page.from_dict(page.to_dict()) == page


def test_run_document_reads_the_selected_pages():
    frames = [rendered_page(400, 500), rendered_page(500, 400)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    doc = get_pipeline("en", "cpu").run_document(buf.getvalue(), pages="2")
    assert doc.lang == "en"
    assert [(p.page_number, p.source_page, p.width, p.height) for p in doc.pages] == [(1, 2, 500, 400)]
    png = io.BytesIO()
    frames[0].save(png, "PNG")
    doc = get_pipeline("en", "cpu").run_document(png.getvalue())
    assert [(p.page_number, p.width, p.height) for p in doc.pages] == [(1, 400, 500)]


def test_detection_picture_outlines_the_lines():
    img = Image.new("RGB", (200, 100), "white")
    page = Page(page_number=1, width=200, height=100, angle=0, angle_confidence=1.0)
    from pipeline.result import Line

    page.lines = [Line("a", 0.9, [(20, 20), (180, 20), (180, 60), (20, 60)], (20, 20, 180, 60))]
    pipe = Pipeline(None, None, None, None)
    picture = pipe.draw_detections(img, page)
    assert picture.size == (200, 100) and picture.mode == "RGB"
    assert picture.getpixel((100, 20)) == (220, 30, 30)  # on the top edge
    assert picture.getpixel((100, 40)) == (255, 255, 255)  # inside stays as it was
    assert img.getpixel((100, 20)) == (255, 255, 255)  # the input is not drawn on


class ReadsByWidth:
    """Reads crops at least ``wide`` pixels wide as ``text`` with ``confidence``; narrower ones as
    a character or two at low confidence, as the detector's junk in a photo reads."""

    def __init__(self, wide, reading, junk):
        self.wide, self.reading, self.junk = wide, reading, junk

    def __call__(self, crops):
        out = []
        for c in crops:
            text, confidence = self.reading if c.shape[1] >= self.wide else self.junk
            out.append(Recognition(text, confidence, [confidence] * len(text)))
        return out


@pytest.mark.parametrize("junk", [("l1", 0.3), ("I", 0.95)])
def test_a_photos_lines_are_kept_only_when_they_read_as_text_and_a_pages_all_are(junk):
    from pipeline.photo_lines import PhotoLines
    from tests.unit.page_samples import street_photo

    lines = [quad(300, 420, 1000, 500), quad(60, 700, 200, 730)]  # the sign, and a stretch of railing
    reader = ReadsByWidth(400, ("OPEN DAILY", 0.9), junk)
    stages = dict(leftovers=False, large_text=False, light_text=False)

    def texts(image, **options):
        pipe = Pipeline(FixedOrientation(0, 1.0), Preprocessor(deskew=False), FixedDetector(lines), reader, **stages, **options)
        return [ln.text for ln in pipe.run_page(image).lines]

    photo = np.asarray(street_photo().convert("L"))
    page = np.full(photo.shape, 245, np.uint8)  # paper: every line the detector found is kept
    assert PhotoLines.applies(photo) and not PhotoLines.applies(page)
    assert texts(photo) == ["OPEN DAILY"]
    assert texts(page) == ["OPEN DAILY", junk[0]]
    assert texts(photo, photo_lines=False) == ["OPEN DAILY", junk[0]]
    assert PhotoLines().keep("OPEN", 0.5) and not PhotoLines().keep("OPEN", 0.49) and not PhotoLines().keep("I.", 0.99)
