"""The reconciler: every state that waits for a queue message gets it, even when the message was lost.

The database is the source of truth and Redis only carries ids, so a message
can go missing between a commit and its send (Redis restarting, a worker
killed in between, a task that gave up while the database was away). Each
sweep compares what the database expects with what Redis holds:

    job queued (or cancelling before it was split)  -> split_job
    page queued, or running with no live worker     -> run_page (also when Redis still
                                                       reserves it for a worker node that died)
    job running/cancelling with every page settled  -> finish_job
    job ended with a callback not yet delivered     -> send_webhook

"Redis holds" means a message for that task and id waits in its queue or is
reserved by a worker (kombu's unacked hash, which also keeps countdown
retries and the page a worker is reading). A state whose message has been
missing for ``reconcile_grace`` seconds gets it again. Every task is
idempotent (db.transitions), so a message sent twice costs a no-op, never a
second result.

The same sweep deletes jobs ``retention_days`` after they ended.

One sweep runs at a time across all workers (db.sweep_lock). The loop runs as
a thread in each worker process that runs tasks; whichever holds the lock
sweeps, and another takes over when that process dies.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, fields
from datetime import timedelta

import redis
from sqlalchemy import and_, or_, select

from core.errors import QueueUnavailable
from core.settings import Settings, get_settings
from db.models import Job, JobStatus, Page, PageStatus, utcnow
from db.sweep_lock import SweepLock
from db.workers import WorkerHeartbeat
from worker.celery_app import QUEUES
from worker.context import Context, get_context
from worker.queueing import FINISH_JOB, RUN_PAGE, SEND_WEBHOOK, SPLIT_JOB, enqueue

log = logging.getLogger(__name__)

_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's Redis priority sub-queues
_UNACKED = "unacked"
SWEEP_LIMIT = 5000  # rows of each kind looked at per sweep; the next sweep takes the rest
EXPIRE_LIMIT = 200  # jobs deleted per sweep, so one sweep stays short after retention is first turned on

Key = tuple[str, str]  # (task name, first argument as text)


@dataclass
class SweepReport:
    split: int = 0
    pages: int = 0
    finish: int = 0
    webhooks: int = 0
    expired: int = 0

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def __str__(self) -> str:
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name))


# --- what Redis holds --------------------------------------------------------------------------
def _message_key(message: dict) -> Key | None:
    headers = message.get("headers") or {}
    task = headers.get("task")
    if not task:
        return None
    try:
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return (task, str(args[0])) if args else None
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def messages_in_flight(settings: Settings) -> set[Key]:
    """(task, id) of every message waiting in our queues or reserved by a worker."""
    client = redis.Redis.from_url(settings.broker_url, socket_timeout=10, socket_connect_timeout=5)
    prefix = settings.broker_key_prefix
    found: set[Key] = set()
    try:
        for queue in QUEUES:
            for suffix in _PRIORITY_SUFFIXES:
                key = f"{prefix}{queue}{suffix}"
                start = 0
                while True:
                    chunk = client.lrange(key, start, start + 999)
                    for raw in chunk:
                        _add(found, raw, reserved=False)
                    if len(chunk) < 1000:
                        break
                    start += 1000
        for raw in client.hvals(f"{prefix}{_UNACKED}"):
            _add(found, raw, reserved=True)
    finally:
        client.close()
    return found


def _add(found: set[Key], raw: bytes, *, reserved: bool) -> None:
    try:
        decoded = json.loads(raw)
    except ValueError:
        return
    message = decoded[0] if reserved and isinstance(decoded, list) else decoded
    if isinstance(message, dict):
        key = _message_key(message)
        if key is not None:
            found.add(key)


# --- what the database expects -----------------------------------------------------------------
def expected_messages(ctx: Context) -> set[Key]:
    """(task, id) of every message some recorded state is waiting for."""
    settled = Job.pages_done + Job.pages_failed + Job.pages_cancelled
    wanted: set[Key] = set()
    with ctx.db.session() as s:
        to_split = s.scalars(
            select(Job.id)
            .where(
                or_(
                    Job.status == JobStatus.QUEUED,
                    # cancelled before it was split: split_job is what moves it to cancelled
                    and_(Job.status == JobStatus.CANCELLING, Job.pages_total == 0),
                )
            )
            .limit(SWEEP_LIMIT)
        )
        wanted.update((SPLIT_JOB, job_id) for job_id in to_split)

        to_finish = s.scalars(
            select(Job.id)
            .where(Job.status.in_((JobStatus.RUNNING, JobStatus.CANCELLING)), Job.pages_total > 0, settled >= Job.pages_total)
            .limit(SWEEP_LIMIT)
        )
        wanted.update((FINISH_JOB, job_id) for job_id in to_finish)

        open_pages = set(
            s.scalars(
                select(Page.id)
                .join(Job, Page.job_id == Job.id)
                .where(Page.status.in_(PageStatus.OPEN), Job.status.in_((JobStatus.RUNNING, JobStatus.CANCELLING)))
                .limit(SWEEP_LIMIT)
            )
        )
        wanted.update((RUN_PAGE, str(page_id)) for page_id in open_pages - _pages_being_read(s))

        to_notify = s.scalars(
            select(Job.id)
            .where(
                Job.status.in_(JobStatus.FINAL),
                Job.callback_url.is_not(None),
                or_(Job.webhook_status.is_(None), Job.webhook_status == "pending"),
            )
            .limit(SWEEP_LIMIT)
        )
        wanted.update((SEND_WEBHOOK, job_id) for job_id in to_notify)
    return wanted


def _heartbeats(s) -> list[tuple[str, int | None, bool]]:
    """(node name, page being read, still beating) for every heartbeat row."""
    now = utcnow()
    rows = s.execute(
        select(
            WorkerHeartbeat.hostname, WorkerHeartbeat.current_page_id, WorkerHeartbeat.last_seen, WorkerHeartbeat.beat_interval
        )
    )
    beats = []
    for hostname, page_id, last_seen, interval in rows:
        if last_seen.tzinfo is None:  # SQLite hands back naive datetimes; we only store UTC
            last_seen = last_seen.replace(tzinfo=now.tzinfo)
        beats.append((hostname, page_id, now - last_seen <= timedelta(seconds=3 * max(1, interval or 10))))
    return beats


def _pages_being_read(s) -> set[int]:
    """Pages a worker that is still beating says it is reading: their message is with that worker.

    Needed when Redis lost its data (restarted with SIGKILL) while the page was being read.
    """
    return {page_id for _host, page_id, fresh in _heartbeats(s) if fresh and page_id is not None}


def orphaned_pages(ctx: Context) -> set[Key]:
    """Running pages claimed by a worker node that stopped beating while others still beat.

    Redis keeps such a page's message reserved for the dead node until the visibility timeout
    (minutes); sending it again now lets a live worker read the page. Judged only while some
    node beats, so heartbeats that all went stale together (a database outage just ended)
    never look like dead workers.
    """
    cutoff = utcnow() - timedelta(seconds=ctx.settings.reconcile_grace)
    with ctx.db.session() as s:
        beats = _heartbeats(s)
        alive = {host for host, _page, fresh in beats if fresh}
        if not alive:
            return set()
        reading = {page_id for _host, page_id, fresh in beats if fresh and page_id is not None}
        rows = s.execute(
            select(Page.id, Page.worker)
            .join(Job, Page.job_id == Job.id)
            .where(
                Page.status == PageStatus.RUNNING,
                Page.started_at < cutoff,
                Job.status.in_((JobStatus.RUNNING, JobStatus.CANCELLING)),
            )
            .limit(SWEEP_LIMIT)
        )
        return {(RUN_PAGE, str(page_id)) for page_id, node in rows if node not in alive and page_id not in reading}


# --- retention ---------------------------------------------------------------------------------
def expire_jobs(ctx: Context) -> int:
    """Delete jobs that ended more than retention_days ago, with their files; how many."""
    days = ctx.settings.retention_days
    if days <= 0:
        return 0
    from api.deletion import delete_job_data  # deletion is shared with the API's DELETE /v1/jobs/<id>

    cutoff = utcnow() - timedelta(days=days)
    with ctx.db.session() as s:
        expired = list(
            s.scalars(
                select(Job.id)
                .where(Job.status.in_(JobStatus.FINAL), Job.finished_at < cutoff)
                .order_by(Job.finished_at)
                .limit(EXPIRE_LIMIT)
            )
        )
    deleted = 0
    for job_id in expired:
        if delete_job_data(ctx, job_id):
            deleted += 1
    if deleted:
        log.info("Retention: deleted %d job(s) that ended more than %s day(s) ago", deleted, days)
    return deleted


# --- the sweep ---------------------------------------------------------------------------------
_REPORT_FIELD = {SPLIT_JOB: "split", RUN_PAGE: "pages", FINISH_JOB: "finish", SEND_WEBHOOK: "webhooks"}


class Reconciler:
    """Remembers since when each expected message has been missing, across sweeps."""

    def __init__(self, ctx: Context, clock=time.monotonic):
        self.ctx = ctx
        self.clock = clock
        self._missing_since: dict[Key, float] = {}

    def sweep(self) -> SweepReport:
        report = SweepReport()
        try:
            in_flight = messages_in_flight(self.ctx.settings)
        except (redis.RedisError, OSError) as exc:
            log.warning("Reconciler: Redis not reachable (%s); nothing re-sent this time", exc)
            in_flight = None
        if in_flight is not None:
            self._resend((expected_messages(self.ctx) - in_flight) | orphaned_pages(self.ctx), report)
        report.expired = expire_jobs(self.ctx)
        return report

    def _resend(self, missing: set[Key], report: SweepReport) -> None:
        now = self.clock()
        self._missing_since = {key: self._missing_since.get(key, now) for key in missing}
        due = sorted(key for key, since in self._missing_since.items() if now - since >= self.ctx.settings.reconcile_grace)
        for task, arg in due:
            try:
                enqueue(self.ctx.celery, task, int(arg) if task == RUN_PAGE else arg)
            except QueueUnavailable as exc:
                log.warning("Reconciler: could not send %s(%s): %s", task, arg, exc)
                return
            self._missing_since[(task, arg)] = now  # wait another grace before sending it yet again
            setattr(report, _REPORT_FIELD[task], getattr(report, _REPORT_FIELD[task]) + 1)
            log.info("Reconciler: %s(%s) was missing; sent again", task, arg)


# --- the loop ----------------------------------------------------------------------------------
class ReconcilerLoop:
    """A daemon thread: every ``reconcile_interval`` (jittered), take the lock if free and sweep."""

    def __init__(self, interval: float | None = None):
        self.interval = interval or get_settings().reconcile_interval
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ocr-reconciler", daemon=True)

    def start(self) -> ReconcilerLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        ctx = get_context()
        lock = SweepLock(ctx.db)
        reconciler = Reconciler(ctx)
        while not self._stop.wait(self.interval * random.uniform(0.8, 1.2)):
            try:
                was_held = lock.held
                if not lock.acquire():
                    continue
                if not was_held:
                    log.info("Reconciler: process %d holds the sweep lock and sweeps every %.0f s", self.pid, self.interval)
                report = reconciler.sweep()
                if report:
                    log.info("Reconciler sweep: %s", report)
            except Exception as exc:  # the database may be away; the next sweep tries again
                log.warning("Reconciler sweep failed: %s", exc)
        lock.release()


_loop: ReconcilerLoop | None = None


def start_loop() -> None:
    """Start this process's loop once (a forked child starts its own)."""
    global _loop
    if get_settings().reconcile_interval <= 0:
        return
    if _loop is None or _loop.pid != os.getpid():
        _loop = ReconcilerLoop().start()


def stop_loop() -> None:
    if _loop is not None and _loop.pid == os.getpid():
        _loop.stop()
