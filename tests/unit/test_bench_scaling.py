"""bench.scaling's table and arguments (the measurement itself needs the platform: python -m bench.scaling)."""

import pytest

from bench.scaling import Run, main, table


def test_table_rows():
    runs = [
        Run(workers=1, pages=16, seconds=16.0, pages_per_min=60.0, read_mean_s=0.89, read_median_s=0.88,
            pages_by_worker={"0": 16}, load_before=2.0),
        Run(workers=2, pages=16, seconds=9.6, pages_per_min=100.0, speedup=100 / 60, read_mean_s=0.98,
            read_median_s=0.99, pages_by_worker={"1": 7, "0": 9}, load_before=1.5),
    ]  # fmt: skip
    lines = table(runs)
    assert lines[0].startswith("| workers | pages | seconds | pages/min | speed-up")
    assert lines[2] == "| 1 | 16 | 16.0 | 60.0 | 1.00x | 0.89 / 0.88 | 16 | 2.00 |"
    assert lines[3] == "| 2 | 16 | 9.6 | 100.0 | 1.67x | 0.98 / 0.99 | 9/7 | 1.50 |"


@pytest.mark.parametrize("argv", [["--workers", "0"], ["--pages", "0"], ["--workers", ""]])
def test_bad_arguments(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
