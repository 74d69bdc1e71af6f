"""Mapping points between original page, upright page and working image."""

import cv2
import numpy as np
import pytest

from pipeline.geometry import apply, deskew_matrix, scale_matrix, to_cv2, upright_matrix
from pipeline.preprocess import Preprocessor, to_upright, to_working


def marked(width, height, x, y):
    img = np.zeros((height, width), dtype=np.uint8)
    img[y, x] = 255
    return img


def peak(img):
    y, x = np.unravel_index(np.argmax(img), img.shape)
    return x + 0.5, y + 0.5  # pixel centre


@pytest.mark.parametrize("angle", [0, 90, 180, 270])
def test_upright_matrix_agrees_with_the_image_rotation(angle):
    img = marked(50, 30, 7, 4)  # a landscape page, one marked pixel
    up = to_upright(img, angle)
    m, size = upright_matrix(angle, 50, 30)
    assert size == (up.shape[1], up.shape[0])
    np.testing.assert_allclose(apply(m, (7.5, 4.5)), peak(up))


def test_upright_matrix_known_points():
    # page 200 x 100 that was turned clockwise by 90: its top-right corner is the upright top-left
    m, size = upright_matrix(90, 200, 100)
    assert size == (100, 200)
    np.testing.assert_allclose(apply(m, [(200, 0), (150, 20), (0, 0)]), [(0, 0), (20, 50), (0, 200)])
    m, _ = upright_matrix(270, 200, 100)
    np.testing.assert_allclose(apply(m, [(0, 100), (150, 20)]), [(0, 0), (80, 150)])
    m, _ = upright_matrix(180, 200, 100)
    np.testing.assert_allclose(apply(m, (150, 20)), (50, 80))
    with pytest.raises(ValueError):
        upright_matrix(45, 10, 10)


def test_deskew_matrix_levels_a_sloped_line_and_grows_the_canvas():
    m, (w, h) = deskew_matrix(5.0, 400, 300)
    t = np.radians(5.0)
    assert (w, h) == (int(np.ceil(400 * np.cos(t) + 300 * np.sin(t))), int(np.ceil(400 * np.sin(t) + 300 * np.cos(t))))
    xs = np.array([10.0, 100.0, 390.0])
    line = np.stack([xs, 50 + xs * np.tan(t)], axis=1)  # y grows with x: clockwise skew
    out = apply(m, line)
    np.testing.assert_allclose(out[:, 1], out[0, 1])
    # the whole page stays on the canvas
    corners = apply(m, [(0, 0), (400, 0), (400, 300), (0, 300)])
    assert corners.min() >= -1e-9 and corners[:, 0].max() <= w + 1e-9 and corners[:, 1].max() <= h + 1e-9


def test_cv2_matrix_moves_pixels_where_apply_says():
    img = np.zeros((300, 400), dtype=np.uint8)
    cv2.circle(img, (300, 80), 3, 255, -1)
    m, size = deskew_matrix(-7.0, 400, 300)
    m = scale_matrix(0.5, 0.5) @ m
    out = cv2.warpAffine(img, to_cv2(m), (size[0] // 2, size[1] // 2))
    ys, xs = np.nonzero(out > 0)
    centroid = (np.average(xs + 0.5, weights=out[ys, xs]), np.average(ys + 0.5, weights=out[ys, xs]))
    np.testing.assert_allclose(centroid, apply(m, (300.5, 80.5)), atol=0.3)


def test_working_to_original_through_rotation_and_scaling():
    # portrait page 200 x 400 scanned turned clockwise: given as 400 x 200
    prep = Preprocessor(deskew=False)(np.full((200, 400), 255, dtype=np.uint8), angle=90)
    g = prep.geometry
    assert prep.upright.shape == (400, 200)
    assert prep.working.shape == (800, 400)  # scaled 2x (the upscale limit)
    assert g.working_size == (400, 800)
    # working (40, 100) -> upright (20, 50) -> original (400 - 50, 20)
    np.testing.assert_allclose(g.working_to_upright((40, 100)), (20, 50))
    np.testing.assert_allclose(g.working_to_original((40, 100)), (350, 20))
    np.testing.assert_allclose(g.original_to_working((350, 20)), (40, 100))


@pytest.mark.parametrize("angle", [0, 90, 180, 270])
def test_a_mark_in_the_working_image_maps_back_to_the_original(angle):
    page = np.full((1500, 1100), 255, dtype=np.uint8)
    page[400:440, 700:780] = 0  # a dark block in the page as given
    prep = Preprocessor(deskew=False)(page, angle)
    ys, xs = np.nonzero(prep.working < 128)
    box = np.array([(xs.min(), ys.min()), (xs.max() + 1, ys.max() + 1)], dtype=float)
    back = prep.geometry.working_to_original(box)
    np.testing.assert_allclose(np.sort(back[:, 0]), [700, 780], atol=2.5)
    np.testing.assert_allclose(np.sort(back[:, 1]), [400, 440], atol=2.5)


def test_deskew_round_trip_of_a_known_point():
    upright = np.full((1000, 800), 255, dtype=np.uint8)
    upright[600:606, 200:206] = 0
    working, m, size, skew = to_working(upright, skew=4.0)
    assert skew == 4.0
    assert working.shape[0] % 16 == 0 and working.shape[1] % 16 == 0
    ys, xs = np.nonzero(working < 128)
    centre = (xs.mean() + 0.5, ys.mean() + 0.5)
    np.testing.assert_allclose(apply(np.linalg.inv(m), centre), (203, 603), atol=1.0)


@pytest.mark.parametrize("angle", [90, 270])
def test_rotation_deskew_and_scaling_together_map_a_known_point_back(angle):
    from tests.unit.test_preprocess import text_page

    upright = text_page(4.0)  # 905 x 1280, text sloping 4 deg clockwise
    upright[20:80, 20:80] = 0  # a square in the top margin
    given = to_upright(upright, {90: 270, 270: 90}[angle])  # the page as scanned, turned by ``angle``
    prep = Preprocessor()(given, angle)
    assert prep.geometry.skew == pytest.approx(4.0, abs=0.15)
    np.testing.assert_array_equal(prep.upright, upright)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats((prep.working < 128).astype(np.uint8))
    square = int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) + 1  # the biggest blob
    centre_in_given = apply(np.linalg.inv(upright_matrix(angle, given.shape[1], given.shape[0])[0]), (50, 50))
    found = prep.geometry.working_to_original(centroids[square] + 0.5)
    np.testing.assert_allclose(found, centre_in_given, atol=1.5)
