"""db.transitions: each page settles once, counters add up, finish is asked for once (on real SQLite)."""

from __future__ import annotations

import pytest

from db.keys import create_key
from db.models import Job, JobFile, JobStatus, Page, PageStatus
from db.transitions import (
    cancel_job,
    charge_quota,
    claim_page,
    end_job,
    request_finish,
    settle_page,
    start_job,
)


def make_job(db, pages: int, status=JobStatus.RUNNING, quota=None) -> tuple[str, list[int], int]:
    with db.session() as s:
        key = create_key(s, "t", quota_pages=quota).record
        job = Job(api_key_id=key.id, status=status, outputs="txt", pages_total=pages)
        s.add(job)
        s.flush()
        f = JobFile(job_id=job.id, position=0, filename="a.pdf", sha256="0" * 64, size_bytes=1)
        s.add(f)
        s.flush()
        rows = [Page(job_id=job.id, file_id=f.id, page_number=n, source_page=n) for n in range(1, pages + 1)]
        s.add_all(rows)
        s.flush()
        return job.id, [p.id for p in rows], key.id


def counters(db, job_id):
    with db.session() as s:
        job = s.get(Job, job_id)
        return job.status, job.pages_done, job.pages_failed, job.pages_cancelled


def test_claim_counts_attempts_until_the_page_settles(database):
    job_id, (page,), _ = make_job(database, 1)
    with database.session() as s:
        assert claim_page(s, page, "w1") == 1
    with database.session() as s:
        assert claim_page(s, page, "w2") == 2  # a redelivery of a page whose worker died
    with database.session() as s:
        settle_page(s, page, job_id, PageStatus.DONE, result={"lines": []})
    with database.session() as s:
        assert claim_page(s, page, "w3") is None
        assert s.get(Page, page).attempts == 2


def test_a_page_settles_and_counts_once(database):
    job_id, pages, _ = make_job(database, 2)
    with database.session() as s:
        first = settle_page(s, pages[0], job_id, PageStatus.DONE, result={"n": 1})
        again = settle_page(s, pages[0], job_id, PageStatus.FAILED, error={"code": "x", "message": "y"})
    assert (first.done, first.failed, first.complete) == (1, 0, False)
    assert again is None
    with database.session() as s:
        last = settle_page(s, pages[1], job_id, PageStatus.FAILED, error={"code": "corrupt_file", "message": "bad"})
        page = s.get(Page, pages[1])
        assert (page.status, page.error_code) == (PageStatus.FAILED, "corrupt_file")
    assert (last.done, last.failed, last.complete) == (1, 1, True)
    assert counters(database, job_id) == (JobStatus.RUNNING, 1, 1, 0)


def test_finish_is_requested_once(database):
    job_id, _, _ = make_job(database, 1)
    with database.session() as s:
        assert request_finish(s, job_id) is True
        assert request_finish(s, job_id) is False


def test_cancel_drops_queued_pages_and_leaves_running_ones(database):
    job_id, pages, _ = make_job(database, 3)
    with database.session() as s:
        claim_page(s, pages[0], "w")
    with database.session() as s:
        counts = cancel_job(s, job_id)
    assert (counts.cancelled, counts.complete) == (2, False)
    assert counters(database, job_id) == (JobStatus.CANCELLING, 0, 0, 2)
    with database.session() as s:
        assert cancel_job(s, job_id) is None  # already cancelling
        done = settle_page(s, pages[0], job_id, PageStatus.DONE, result={})
    assert done.complete


def test_start_and_end_happen_once(database):
    job_id, _, _ = make_job(database, 0, status=JobStatus.QUEUED)
    with database.session() as s:
        assert start_job(s, job_id, 4) is True
        assert start_job(s, job_id, 4) is False
        assert end_job(s, job_id, JobStatus.SUCCEEDED) is True
        assert end_job(s, job_id, JobStatus.FAILED, {"code": "x", "message": "y"}) is False
        job = s.get(Job, job_id)
        assert (job.status, job.pages_total, job.error_code) == (JobStatus.SUCCEEDED, 4, None)
        assert job.finished_at is not None


@pytest.mark.parametrize(("quota", "pages", "charged"), [(None, 1000, True), (5, 5, True), (5, 6, False)])
def test_quota_is_charged_only_within_the_limit(database, quota, pages, charged):
    _, _, key_id = make_job(database, 0, quota=quota)
    with database.session() as s:
        assert charge_quota(s, key_id, pages) is charged
    from db.models import ApiKey

    with database.session() as s:
        assert s.get(ApiKey, key_id).pages_used == (pages if charged else 0)
