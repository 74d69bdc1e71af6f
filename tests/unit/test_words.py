"""Words of a line and their places in its crop, from a CTC alignment, on hand-made crops."""

import numpy as np

from pipeline.words import place_words, split_words


def test_latin_splits_at_spaces_and_each_cjk_character_is_a_word():
    text = "Total 12.50 元，已付 OK"
    assert [text[a:b] for a, b in split_words(text)] == ["Total", "12.50", "元", "，", "已", "付", "OK"]
    assert split_words("  ") == [] and split_words("") == []


def crop_with_blobs(spans, width=200, height=40):
    """White crop with black blobs over the given column spans, rows 10..30."""
    crop = np.full((height, width), 255, np.uint8)
    for a, b in spans:
        crop[10:30, a:b] = 0
    return crop


def test_words_are_the_ink_between_the_cuts():
    # two words: "ab" on columns 20-60 and "c" on 100-120; the space was emitted at frame 18 (column 72)
    crop = crop_with_blobs([(20, 38), (42, 60), (100, 120)])
    frames = [(6, 7), (12, 13), (18, 19), (26, 27)]  # emissions early in each glyph, 4 columns a frame
    placed = place_words("ab c", [0.9, 0.8, 1.0, 0.5], frames, 4.0, crop, (5.0, 35.0))
    assert [(w.first, w.end) for w in placed] == [(0, 2), (3, 4)]
    assert [w.box for w in placed] == [(20, 10, 60, 30), (100, 10, 120, 30)]
    assert placed[0].confidence == round((0.9 * 0.8) ** 0.5, 4) and placed[1].confidence == 0.5


def test_a_cut_between_touching_glyphs_takes_the_thinnest_column():
    crop = crop_with_blobs([(20, 60), (60, 100)])
    crop[10:29, 58:62] = 255  # a thin join: one ink row (29) over columns 58-61
    placed = place_words("中文", [1.0, 1.0], [(6, 7), (16, 17)], 4.0, crop, (5.0, 35.0))
    # emissions end at column 28 and start at 64; the least ink (one row) is at 58-61, nearest 3/4 of the way
    assert [w.box for w in placed] == [(20, 10, 58, 30), (58, 10, 100, 30)]


def test_no_alignment_places_no_words():
    crop = crop_with_blobs([(20, 60)])
    assert place_words("ab", [1.0, 1.0], [], 4.0, crop, (5.0, 35.0)) == []  # a recognizer without frames
    assert place_words("ab", [1.0, 1.0], [(1, 2)], 4.0, crop, (5.0, 35.0)) == []  # frames that do not match
    blank = np.full((40, 200), 255, np.uint8)
    [word] = place_words("a", [1.0], [(5, 6)], 4.0, blank, (5.0, 35.0))
    assert word.box == (0.0, 5.0, 200.0, 35.0)  # no ink to snap to: the stretch between the cuts
