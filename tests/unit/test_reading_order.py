"""Reading order: columns, full-width titles and table rows."""

import numpy as np

from pipeline.reading_order import ReadingOrder, reading_order


def shuffled(boxes, seed=0):
    """Boxes in a random order, and a function mapping the result back to the original labels."""
    perm = np.random.default_rng(seed).permutation(len(boxes))
    return [boxes[i] for i in perm], lambda order: [int(perm[i]) for i in order]


def test_single_column_top_to_bottom():
    boxes = [(10, 10 + 40 * i, 800, 35 + 40 * i) for i in range(6)]
    given, back = shuffled(boxes)
    assert back(reading_order(given)) == list(range(6))


def test_two_columns_with_a_title_across_both():
    title = [(0, 0, 900, 30)]
    left = [(0, 50 + 40 * i, 420, 75 + 40 * i) for i in range(5)]
    right = [(480, 50 + 40 * i, 900, 75 + 40 * i) for i in range(5)]  # rows aligned with the left column
    given, back = shuffled(title + left + right, seed=1)
    assert back(reading_order(given)) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_two_columns_with_unaligned_rows_and_a_short_last_line():
    left = [(0, 0 + 40 * i, 420, 25 + 40 * i) for i in range(4)] + [(0, 160, 150, 185)]
    right = [(470, 13 + 37 * i, 900, 38 + 37 * i) for i in range(5)]
    given, back = shuffled(left + right, seed=2)
    assert back(reading_order(given)) == list(range(10))


def test_table_row_between_paragraphs_is_read_left_to_right_as_separate_lines():
    boxes = [
        (0, 0, 900, 25),  # paragraph line
        (0, 40, 200, 65),
        (300, 42, 500, 66),
        (600, 39, 900, 64),  # one table row, three cells
        (0, 80, 900, 105),  # paragraph line
    ]
    given, back = shuffled(boxes, seed=3)
    assert back(reading_order(given)) == [0, 1, 2, 3, 4]


def test_table_of_short_cells_is_read_row_by_row():
    boxes = [(x, 30 * r, x + 90, 30 * r + 20) for r in range(4) for x in (0, 300, 600)]
    given, back = shuffled(boxes, seed=4)
    assert back(reading_order(given)) == list(range(12))


def test_same_row_needs_half_the_height_in_common():
    boxes = [(0, 0, 100, 20), (200, 12, 300, 32)]  # overlap 8 < 10: two rows, so left-top first anyway
    assert ReadingOrder()(boxes) == [0, 1]
    boxes = [(200, 0, 300, 20), (0, 9, 100, 29)]  # overlap 11 >= 10: one row, left first
    assert ReadingOrder()(boxes) == [1, 0]
    boxes = [(200, 0, 300, 20), (0, 11, 100, 31)]  # overlap 9 < 10: the upper one first
    assert ReadingOrder()(boxes) == [0, 1]


def test_empty_and_single():
    assert reading_order([]) == []
    assert reading_order([(0, 0, 10, 10)]) == [0]


def test_blocks_split_at_paragraph_gaps_headings_columns_and_cells():
    heading = [(0, 0, 600, 50)]  # larger type
    paragraph = [(0, 80 + 34 * i, 420, 106 + 34 * i) for i in range(3)]  # 8 px apart
    after_gap = [(0, 230, 420, 256), (0, 264, 300, 290)]  # 30 px (more than 0.75 line heights) below
    right = [(480, 80 + 34 * i, 900, 106 + 34 * i) for i in range(5)]  # a column beside them
    boxes = heading + paragraph + after_gap + right
    given, back = shuffled(boxes, seed=4)
    blocks = [back(block) for block in ReadingOrder().blocks(given)]
    assert blocks == [[0], [1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]
    # the blocks are the reading order, cut
    assert [i for block in ReadingOrder().blocks(given) for i in block] == reading_order(given)

    row = [(0, 0, 100, 20), (150, 0, 250, 20), (0, 26, 100, 46), (150, 26, 250, 46)]  # a table: cells read across
    assert ReadingOrder().blocks(row) == [[0], [1], [2], [3]]
    assert ReadingOrder().blocks([]) == []
