"""bench/submit_load.py, briefly, so it keeps working: a few clients for a few seconds against its
own API (gunicorn as `make run` starts it), a fresh PostgreSQL database and its own Redis."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.submit_load import parse_args, run_backend, table

pytestmark = pytest.mark.integration


def test_every_accepted_submit_is_in_the_database_and_the_queue():
    args = parse_args(["--backends", "postgres", "--clients", "4", "--rate", "2", "--duration", "2",
                       "--saturation-clients", "4", "--saturation-seconds", "1"])  # fmt: skip
    # its own thread: a browser test earlier in the session may leave an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(run_backend, "postgres", args).result()
    print(table([result]))
    open_loop, submits, health = result.phases
    assert len(open_loop.outcomes) == 16 and open_loop.errors == 0, result.error_samples
    assert submits.ok > 0 and health.ok > 0 and submits.errors == health.errors == 0, result.error_samples
    assert result.accepted == len(open_loop.job_ids | submits.job_ids) >= 16
    assert result.missing_in_database == result.missing_in_queue == result.twice == 0
    assert result.in_queue == result.accepted
