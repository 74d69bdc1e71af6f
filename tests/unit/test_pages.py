import pytest

from core.errors import EmptyFile, InvalidPageRange
from pipeline.pages import parse_page_range


@pytest.mark.parametrize(
    ("spec", "total", "expected"),
    [
        ("1-3,5", 6, [1, 2, 3, 5]),
        ("5,1-2,2", 6, [1, 2, 5]),
        (" 2 , 4 - 5 ", 5, [2, 4, 5]),
        ("3-", 5, [3, 4, 5]),
        ("-2", 5, [1, 2]),
        ("1-1", 1, [1]),
        ("4", 4, [4]),
        (None, 3, [1, 2, 3]),
        ("", 3, [1, 2, 3]),
        ("  ", 2, [1, 2]),
    ],
)
def test_parse_page_range(spec, total, expected):
    assert parse_page_range(spec, total) == expected


@pytest.mark.parametrize("spec", ["a", "1-2-3", "1--2", ",", "1,,2", "-", "1 2", "1.5", "3-1", "0", "0-2", "-0", "+1"])
def test_malformed_ranges_are_rejected(spec):
    with pytest.raises(InvalidPageRange):
        parse_page_range(spec, 10)


@pytest.mark.parametrize("spec", ["7", "1-7", "6,7", "7-"])
def test_ranges_outside_the_document_are_rejected_not_clipped(spec):
    with pytest.raises(InvalidPageRange, match="6 pages"):
        parse_page_range(spec, 6)


def test_a_document_without_pages_is_empty():
    with pytest.raises(EmptyFile):
        parse_page_range(None, 0)
