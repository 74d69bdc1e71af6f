"""bench.load_test's bookkeeping and checks, run against a loopback server speaking the API contract.

The load figures themselves come from `make loadtest` against the real API and workers; here we
check that the load test counts right and notices a server that loses, duplicates or repeats work.
"""

from __future__ import annotations

import pytest

from bench import load_test
from tests.unit.client_api_double import ApiDouble


@pytest.fixture
def api():
    double = ApiDouble(polls_to_finish=2)
    url = double.start()
    yield double, url
    double.stop()


def run(url: str, *extra: str) -> int:
    return load_test.main(
        ["--url", url, "--api-key", "test-key", "--jobs", "12", "--clients", "4", "--pdf-every", "4", "--poll", "0.01", *extra]
    )


def test_a_sound_server_passes(api, capsys):
    double, url = api
    assert run(url, "--resubmit", "5") == 0
    out = capsys.readouterr().out
    assert "12 jobs (3 two-page PDFs), 4 clients" in out
    assert "statuses: 12 succeeded" in out
    assert (
        "0 lost; 0 without a unique id; resubmits answered the same job 5/5; listed by tag 12/12; page results exactly once 12/12"
        in out
    )
    assert "jobs/min" in out and "p95" in out
    assert out.rstrip().endswith("PASS")
    assert len(double.jobs) == 12
    assert sorted(j.pages_total for j in double.jobs.values()) == [1] * 9 + [2] * 3


def test_a_server_that_ignores_request_tokens_fails(api, capsys):
    double, url = api
    double.honour_tokens = False
    assert run(url, "--resubmit", "3") == 1
    out = capsys.readouterr().out
    assert "resubmits answered the same job 0/3" in out and "listed by tag 15/12" in out
    assert out.rstrip().endswith("FAIL")


def test_a_server_that_repeats_a_page_fails(api, capsys):
    double, url = api
    double.repeat_first_page = True
    assert run(url) == 1
    assert "page results exactly once 0/12" in capsys.readouterr().out


def test_jobs_that_never_end_count_as_lost(api, capsys):
    double, url = api
    double.polls_to_finish = 10**6
    assert run(url, "--timeout", "1") == 1
    out = capsys.readouterr().out
    assert "12 lost" in out and "PROBLEM lost: load-0000.png" in out


def test_only_loopback_is_a_target():
    with pytest.raises(SystemExit, match="only targets loopback"):
        load_test.main(["--url", "http://192.0.2.1:8000", "--api-key", "k"])
