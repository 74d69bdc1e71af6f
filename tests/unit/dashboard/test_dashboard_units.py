"""Dashboard figures, retry/rerun and heartbeats against a real (SQLite) database."""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from core.errors import Conflict, NotFound
from db.models import FileStatus, Job, JobFile, Page


def make_job(db, key_id, *, status="succeeded", pages=(), created=None, finished=None, tag=None, files_failed=False) -> str:
    """A job row with one file and pages given as (status, finished_at, timings) tuples."""
    with db.session() as s:
        job = Job(
            api_key_id=key_id,
            status=status,
            outputs="json,txt",
            job_tag=tag,
            pages_total=len(pages),
            pages_done=sum(1 for p in pages if p[0] == "done"),
            pages_failed=sum(1 for p in pages if p[0] == "failed"),
            created_at=created or datetime.now(UTC),
            started_at=created,
            finished_at=finished,
            error_code="corrupt_file" if status == "failed" else None,
            error_message="broken" if status == "failed" else None,
        )
        s.add(job)
        s.flush()
        f = JobFile(
            job_id=job.id,
            position=0,
            filename="a.pdf",
            sha256="ab" * 32,
            size_bytes=10,
            status=FileStatus.FAILED if files_failed else FileStatus.READY,
            error_code="corrupt_file" if files_failed else None,
            error_message="broken file" if files_failed else None,
        )
        s.add(f)
        s.flush()
        for number, (page_status, page_finished, timings) in enumerate(pages, start=1):
            s.add(
                Page(
                    job_id=job.id,
                    file_id=f.id,
                    page_number=number,
                    source_page=number,
                    status=page_status,
                    attempts=1,
                    finished_at=page_finished,
                    timings=timings,
                    created_at=job.created_at,
                    error_code="corrupt_file" if page_status == "failed" else None,
                    error_message=f"page {number} broken" if page_status == "failed" else None,
                )
            )
        return job.id


# --- percentiles ---------------------------------------------------------------------------------


def test_percentile_matches_numpy():
    from api.dashboard_queries import percentile

    rng = random.Random(3)
    for n in (1, 2, 7, 100, 1001):
        values = sorted(rng.uniform(0, 10) for _ in range(n))
        for q in (0.5, 0.95):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))
    assert percentile([], 0.5) is None


# --- throughput and stage times ---------------------------------------------------------------------


def test_throughput_buckets_count_rows_by_minute(services, database, key_id):
    from api.dashboard_queries import stage_times, throughput

    now = datetime.now(UTC).replace(second=30, microsecond=0)
    two_min_ago, ten_min_ago, long_ago = now - timedelta(minutes=2), now - timedelta(minutes=10), now - timedelta(hours=3)
    t = {"rasterise": 0.1, "orientation": 0.2, "detection": 0.3, "recognition": 0.4, "total": 1.0}
    make_job(database, key_id, pages=[("done", two_min_ago, t), ("done", two_min_ago, t), ("failed", two_min_ago, None)],
             created=two_min_ago - timedelta(seconds=8), finished=two_min_ago, status="partial_success")  # fmt: skip
    make_job(database, key_id, pages=[("done", ten_min_ago, dict(t, detection=0.9))], created=ten_min_ago - timedelta(seconds=2),
             finished=ten_min_ago)  # fmt: skip
    make_job(database, key_id, pages=[("done", long_ago, t)], created=long_ago, finished=long_ago)

    answer = throughput(services, 60)
    assert len(answer["buckets"]) == 60
    by_minute = {b["minute"]: b for b in answer["buckets"]}
    key = two_min_ago.replace(second=0).isoformat().replace("+00:00", "Z")
    assert (by_minute[key]["pages_done"], by_minute[key]["pages_failed"], by_minute[key]["jobs_finished"]) == (2, 1, 1)
    assert by_minute[key]["failure_ratio"] == pytest.approx(1 / 3, abs=1e-4)
    assert answer["totals"]["pages_done"] == 3 and answer["totals"]["pages_failed"] == 1  # the 3 h old page is outside
    assert answer["totals"]["jobs_finished"] == 2
    assert answer["totals"]["pages_per_minute"] == pytest.approx(4 / 60, abs=0.01)

    times = stage_times(services, 60)
    assert times["stages"]["detection"] == {"n": 3, "p50": 0.3, "p95": pytest.approx(0.84)}
    assert times["job_end_to_end"]["n"] == 2
    assert times["job_end_to_end"]["p50"] == pytest.approx(5.0)


def test_overview_without_a_broker_says_so(services, database, key_id):
    from api.dashboard_queries import overview

    make_job(
        database, key_id, status="running", pages=[("queued", None, None)], created=datetime.now(UTC) - timedelta(seconds=40)
    )
    answer = overview(services)
    assert answer["broker"]["broker_up"] is False and answer["broker"]["queues"] == []
    assert answer["jobs_by_status"]["running"] == 1 and answer["pages_open"]["queued"] == 1
    assert 39 <= answer["oldest_waiting_page"]["age_seconds"] < 100


def test_job_list_filters_and_pages(services, database, key_id):
    from api.dashboard_queries import JobFilter, list_jobs

    base = datetime(2024, 5, 1, tzinfo=UTC)
    ids = [make_job(database, key_id, created=base + timedelta(hours=i), tag="even" if i % 2 == 0 else "odd") for i in range(7)]
    everything = list_jobs(services, JobFilter(), 1, 3)
    assert everything["total"] == 7 and [j["job_id"] for j in everything["jobs"]] == ids[::-1][:3]
    assert [j["job_id"] for j in list_jobs(services, JobFilter(), 3, 3)["jobs"]] == [ids[0]]
    assert list_jobs(services, JobFilter(tag="even"), 1, 10)["total"] == 4
    window = JobFilter(created_after=base + timedelta(hours=2), created_before=base + timedelta(hours=4))
    assert [j["job_id"] for j in list_jobs(services, window, 1, 10)["jobs"]] == [ids[3], ids[2]]
    assert list_jobs(services, JobFilter(key_id=key_id + 1), 1, 10)["total"] == 0
    assert list_jobs(services, JobFilter(job_id_prefix=ids[4][:9]), 1, 10)["jobs"][0]["job_id"] == ids[4]
    assert list_jobs(services, JobFilter(statuses=("failed",)), 1, 10)["total"] == 0


# --- retry and rerun ------------------------------------------------------------------------------------


def test_retry_reopens_failed_pages_once_and_undo_restores(database, key_id):
    from db.requeue import retry_failed, undo_retry

    now = datetime.now(UTC)
    job_id = make_job(database, key_id, status="partial_success", finished=now,
                      pages=[("done", now, {}), ("failed", now, None), ("failed", now, None)])  # fmt: skip
    with database.session() as s:
        plan = retry_failed(s, job_id)
    assert len(plan.page_ids) == 2 and not plan.resplit
    with database.session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.pages_failed, job.finished_at, job.finish_requested_at) == ("running", 0, None, None)
        pages = s.scalars(select(Page).where(Page.job_id == job_id).order_by(Page.page_number)).all()
        assert [(p.status, p.attempts, p.error_code) for p in pages] == [
            ("done", 1, None),
            ("queued", 0, None),
            ("queued", 0, None),
        ]
    with pytest.raises(Conflict), database.session() as s:
        retry_failed(s, job_id)  # running now: a second press changes nothing

    with database.session() as s:  # the broker refused the messages
        undo_retry(s, plan, {"code": "queue_unavailable", "message": "down"})
    with database.session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.pages_failed) == ("partial_success", 2)
        pages = s.scalars(select(Page).where(Page.job_id == job_id).order_by(Page.page_number)).all()
        assert [(p.status, p.error_message) for p in pages] == [
            ("done", None),
            ("failed", "page 2 broken"),
            ("failed", "page 3 broken"),
        ]


def test_retry_of_a_job_without_pages_splits_again(database, key_id):
    from db.requeue import retry_failed, undo_retry

    job_id = make_job(database, key_id, status="failed", finished=datetime.now(UTC), files_failed=True)
    with database.session() as s:
        plan = retry_failed(s, job_id)
    assert plan.resplit and plan.page_ids == []
    with database.session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.error_code, job.finished_at) == ("queued", None, None)
        assert s.scalar(select(JobFile.status).where(JobFile.job_id == job_id)) == FileStatus.PENDING
        undo_retry(s, plan, {"code": "queue_unavailable", "message": "The job queue is down."})
    with database.session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.error_code) == ("failed", "queue_unavailable")


def test_retry_refuses_what_it_cannot_retry(database, key_id):
    from db.requeue import retry_failed

    good = make_job(database, key_id, status="succeeded", pages=[("done", datetime.now(UTC), {})])
    with pytest.raises(Conflict), database.session() as s:
        retry_failed(s, good)
    with pytest.raises(NotFound), database.session() as s:
        retry_failed(s, "no-such-job")


def test_rerun_makes_a_new_job_over_the_same_files(database, key_id):
    from db.requeue import rerun

    old = make_job(database, key_id, pages=[("done", datetime.now(UTC), {})], tag="batch")
    with database.session() as s:
        new = rerun(s, old, lang="en", outputs="txt").id
    with database.session() as s:
        job = s.get(Job, new)
        assert (job.status, job.lang, job.outputs, job.job_tag, job.api_key_id) == ("queued", "en", "txt", "batch", key_id)
        (f,) = s.scalars(select(JobFile).where(JobFile.job_id == new)).all()
        assert (f.sha256, f.filename, f.status) == ("ab" * 32, "a.pdf", FileStatus.PENDING)


def test_a_rerun_is_a_request_of_the_read_files_alone(database, key_id):
    """The old job's a.pdf came after two files refused at upload; the rerun has a.pdf alone, first."""
    from db.requeue import rerun

    old = make_job(database, key_id, pages=[("done", datetime.now(UTC), {})])
    with database.session() as s:
        s.get(Job, old).rejected_files = [
            {"index": i, "filename": f"bad{i}.txt", "code": "unsupported_format", "message": "No."} for i in (0, 1)
        ]
        s.query(JobFile).filter_by(job_id=old).update({"position": 2})
    with database.session() as s:
        new = rerun(s, old).id
    with database.session() as s:
        assert s.get(Job, new).rejected_files is None
        assert [(f.position, f.filename) for f in s.scalars(select(JobFile).where(JobFile.job_id == new))] == [(0, "a.pdf")]


# --- heartbeats -------------------------------------------------------------------------------------------


def test_heartbeat_thread_records_the_current_page_and_leaves_on_stop(settings, database, monkeypatch):
    from core import settings as settings_module
    from db.workers import WorkerHeartbeat
    from worker.heartbeat import Heartbeat

    monkeypatch.setenv("OCR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OCR_DEVICE", "cpu")
    settings_module.get_settings.cache_clear()
    try:
        hb = Heartbeat("unit@host", "ocr.pages", interval=0.2).start()

        def row():
            with database.session() as s:
                return s.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.hostname == "unit@host"))

        def wait(predicate):
            deadline = time.monotonic() + 10
            while not predicate():
                assert time.monotonic() < deadline
                time.sleep(0.05)

        wait(lambda: row() is not None)
        assert (row().pid, row().device, row().queues, row().beat_interval) == (os.getpid(), "cpu", "ocr.pages", 1)
        hb.page_started(1234)
        wait(lambda: row().current_page_id == 1234)
        hb.page_finished()
        wait(lambda: row().current_page_id is None and row().pages_done == 1)
        first_seen = row().last_seen
        wait(lambda: row().last_seen > first_seen)  # the timer keeps beating
        hb.stop()
        hb.join(5)
        assert row() is None
    finally:
        settings_module.get_settings.cache_clear()


def test_silent_heartbeats_are_forgotten(database):
    from db.workers import WorkerHeartbeat, beat, forget_silent

    with database.session() as s:
        beat(s, "old@host", 1, device="cpu")
        beat(s, "new@host", 2, device="cpu")
    with database.session() as s:
        old = s.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.hostname == "old@host"))
        old.last_seen = datetime.now(UTC) - timedelta(hours=2)
    with database.session() as s:
        assert forget_silent(s) == 1
        assert s.scalars(select(WorkerHeartbeat.hostname)).all() == ["new@host"]
