"""The reconciler's parts on SQLite: what the database expects, what a queue message names, the sweep
lock, retention, and the backoff every retry waits by."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import timedelta

from sqlalchemy import update

from core.backoff import backoff_delay
from db.models import Job, JobStatus, Page, PageStatus, utcnow
from db.sweep_lock import SweepLock
from db.transitions import claim_page, end_job, settle_page
from db.workers import WorkerHeartbeat, beat
from storage import output_key
from tests.unit.platform.test_worker_steps import add_job, png_bytes
from worker import splitting
from worker.queueing import FINISH_JOB, RUN_PAGE, SEND_WEBHOOK, SPLIT_JOB
from worker.reconciler import _message_key, expected_messages, expire_jobs


def test_backoff_doubles_up_to_its_cap_and_is_jittered():
    for attempt, ceiling in ((0, 2), (3, 16), (10, 300)):
        delays = {backoff_delay(attempt, base=2, cap=300) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # two workers that failed together do not retry together


def test_a_celery_message_names_its_task_and_id():
    body = base64.b64encode(json.dumps([[42], {}, {"callbacks": None}]).encode()).decode()
    message = {"body": body, "headers": {"task": RUN_PAGE, "argsrepr": "[42]"}, "properties": {"body_encoding": "base64"}}
    assert _message_key(message) == (RUN_PAGE, "42")
    assert _message_key({"headers": {}, "body": body}) is None


def test_the_database_says_which_messages_it_waits_for(context):
    queued = add_job(context, [("a.png", png_bytes())])
    cancelled_early = add_job(context, [("b.png", png_bytes())])
    running = add_job(context, [("c.png", png_bytes()), ("d.png", png_bytes())])
    complete = add_job(context, [("e.png", png_bytes())])
    ended = add_job(context, [("f.png", png_bytes())])
    page_ids = splitting.split_job(context, running).page_ids
    (last_page,) = splitting.split_job(context, complete).page_ids
    with context.db.session() as s:
        s.execute(update(Job).where(Job.id == cancelled_early).values(status=JobStatus.CANCELLING))
        settle_page(s, last_page, complete, PageStatus.DONE, result={})
        s.execute(update(Job).where(Job.id == ended).values(callback_url="https://example.org/hook"))
        end_job(s, ended, JobStatus.FAILED, {"code": "x", "message": "y"})
        # The first page is being read by a worker that beats: its message is with that worker.
        beat(s, "w@host", 1, current_page_id=page_ids[0], beat_interval=10)

    assert expected_messages(context) == {
        (SPLIT_JOB, queued),
        (SPLIT_JOB, cancelled_early),  # split_job is what ends a job cancelled before its split
        (RUN_PAGE, str(page_ids[1])),
        (FINISH_JOB, complete),
        (SEND_WEBHOOK, ended),
    }


def test_only_one_sweep_lock_is_held_per_database(context):
    first, second = SweepLock(context.db), SweepLock(context.db)
    assert first.acquire() and first.acquire()  # held: taking it again is a no-op
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_retention_deletes_jobs_that_ended_long_enough_ago_with_their_files(context):
    old, recent = (add_job(context, [(name, png_bytes())]) for name in ("old.png", "recent.png"))
    for job_id in (old, recent):
        context.storage.put(output_key(job_id, "txt"), b"text")
        with context.db.session() as s:
            end_job(s, job_id, JobStatus.SUCCEEDED)
    with context.db.session() as s:
        s.execute(update(Job).where(Job.id == old).values(finished_at=utcnow() - timedelta(days=31)))

    keep_all = dataclasses.replace(context, settings=dataclasses.replace(context.settings, retention_days=0))
    assert expire_jobs(keep_all) == 0
    assert expire_jobs(context) == 1  # the default, 30 days
    with context.db.session() as s:
        assert s.get(Job, old) is None and s.get(Job, recent) is not None
    assert not context.storage.exists(output_key(old, "txt"))
    assert context.storage.exists(output_key(recent, "txt"))


def test_a_page_claimed_by_a_node_that_stopped_beating_is_orphaned_while_others_beat(context):
    from worker.reconciler import orphaned_pages

    job_id = add_job(context, [("a.png", png_bytes()), ("b.png", png_bytes())])
    dead_page, live_page = splitting.split_job(context, job_id).page_ids
    long_ago = utcnow() - timedelta(minutes=10)
    with context.db.session() as s:
        claim_page(s, dead_page, "dead@host")
        claim_page(s, live_page, "live@host")
        s.execute(update(Page).where(Page.job_id == job_id).values(started_at=long_ago))
        beat(s, "dead@host", 1, current_page_id=dead_page, beat_interval=10)
        s.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.hostname == "dead@host").values(last_seen=long_ago))
    # Every heartbeat stale at once looks like a database outage, not dead workers: nothing is judged.
    assert orphaned_pages(context) == set()

    with context.db.session() as s:
        beat(s, "live@host", 2, current_page_id=live_page, beat_interval=10)
    assert orphaned_pages(context) == {(RUN_PAGE, str(dead_page))}
