"""Batched page reading (issue #13): a worker process reads up to N pages in one Pipeline.run_pages call.

Why the database claims the batch, not Celery. Messages stay one page each
(ids only). A run_page task whose worker batches (``batch_size`` > 1, on
PostgreSQL) claims its own page as always and then up to N-1 more *queued*
pages in the same conditional-UPDATE style as db.transitions: a
``SELECT ... FOR UPDATE SKIP LOCKED`` of queued, never-tried pages of running
jobs with the same language and orientation option (one pipeline call reads
them), counted as an attempt and moved to running before any work, like
claim_page. Celery-side batching (celery-batches) would hold N unacked
messages in the consumer, fits badly with acks_late, per-message retries and
the prefork pool, and adds a dependency; the row is the source of truth
anyway.

The batch-mates' own messages are still in Redis. They must neither read the
page a second time while the batch reads it nor vanish, or a batch killed
midway would strand its pages. So the batch holds a PostgreSQL session-level
advisory lock per claimed page, on a connection of its own (the lease), for
as long as it reads them; every run_page claim first takes the same lock for
its own transaction (``pg_try_advisory_xact_lock``). A message whose page is
locked by a live batch is put off (a countdown retry, still unacked in Redis,
so the reconciler sees it in flight) and comes back to find the page settled
(a no-op, as any repeated message). When the batch's process dies, its
connection and with it the locks go at once (kill -9, OOM killer, hard time
limit); when its machine vanishes, the lease session's TCP keepalive drops
them within about half a minute (db.sweep_lock's settings). The pages are
then still ``running`` with no lock, and their messages claim and read them
as today's redelivered message reads a page whose worker died.

A page that was tried before (its message came back after a death or a
retryable error) is read alone and never joins a batch: a page that kills its
process takes at most one batch with it, and then uses only its own attempts.

SQLite (one machine, tests and small installs) has neither SKIP LOCKED nor
advisory locks: its workers read page by page.
"""

from __future__ import annotations

import functools
import hashlib
import logging

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection

from core.settings import Settings
from db.models import Job, JobStatus, Page, PageStatus, utcnow
from db.session import Database
from db.sweep_lock import LOCK_SESSION_SETTINGS

log = logging.getLogger(__name__)

GPU_BATCH = 8  # pages per run_pages call on a CUDA GPU when OCR_WORKER_BATCH is not set (bench/gpu.py: 3.79 -> 6.51 pages/s)
PUT_OFF_SECONDS = 2.0  # how long a message whose page a live batch is reading waits before it looks again


def batch_size(settings: Settings) -> int:
    """OCR_WORKER_BATCH, or by device: GPU_BATCH on a CUDA GPU, 1 on the CPU."""
    if settings.worker_batch > 0:
        return settings.worker_batch
    device = settings.device.strip().lower()
    if device.startswith("cuda"):
        return GPU_BATCH
    if device == "auto":
        from pipeline.runtime import resolve_runtime

        try:
            # The runtime this worker uses is torch, and auto would pick torch too: a CUDA GPU is usable.
            on_gpu = resolve_runtime() == "torch" and resolve_runtime(runtime="auto", device="auto") == "torch"
        except Exception:  # a bad OCR_RUNTIME: the pipeline reports it when it loads
            return 1
        return GPU_BATCH if on_gpu else 1
    return 1


def batching_possible(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"


@functools.cache
def _namespace(url: str) -> int:
    """The first key of the pages' advisory locks: per database URL (test runs use one schema each),
    apart from the sweep lock's one-bigint key."""
    return int.from_bytes(hashlib.sha256(b"ocr-page-batch:" + url.encode()).digest()[:4], "big", signed=True)


def _page_key(page_id: int) -> int:
    return int(page_id) % 2_147_483_647  # the second key is an int4; ids this far apart never meet in a batch


def page_free(session, db: Database, page_id: int) -> bool:
    """False when a live batch holds the page. Takes the page's lock until this transaction ends, so
    a batch cannot claim the page while this transaction claims it. Always True on SQLite."""
    if not batching_possible(db):
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(_namespace(db.url), _page_key(page_id)))))


class BatchLease:
    """The pages a batch claimed, locked on a connection of its own until ``release``."""

    def __init__(self, db: Database):
        self.db = db
        self.page_ids: list[int] = []
        self._conn: Connection | None = None

    def claim(self, *, lang: str, detect_orientation: bool, exclude: int, limit: int, worker: str) -> list[int]:
        """Claim up to ``limit`` queued, never-tried pages (oldest first) of running jobs read with the
        same pipeline call; their attempt is counted and committed before any work, as claim_page's."""
        if limit <= 0 or not batching_possible(self.db):
            return []
        ns = _namespace(self.db.url)
        conn = self.db.engine.connect()
        self._conn = conn
        for name, value in LOCK_SESSION_SETTINGS.items():
            conn.execute(text("SELECT set_config(:name, :value, false)"), {"name": name, "value": value})
        candidates = conn.scalars(
            select(Page.id)
            .join(Job, Page.job_id == Job.id)
            .where(
                Page.status == PageStatus.QUEUED,
                Page.attempts == 0,
                Page.id != exclude,
                Job.status == JobStatus.RUNNING,
                Job.lang == lang,
                Job.detect_orientation == detect_orientation,
            )
            .order_by(Page.id)
            .limit(limit)
            .with_for_update(of=Page, skip_locked=True)
        ).all()
        # Never waits: a page whose message is claiming it right now (its transaction holds the lock) is left to it.
        locked = [pid for pid in candidates if conn.scalar(select(func.pg_try_advisory_lock(ns, _page_key(pid))))]
        claimed = []
        if locked:
            claimed = list(
                conn.scalars(
                    update(Page)
                    .where(Page.id.in_(locked), Page.status == PageStatus.QUEUED)
                    .values(attempts=Page.attempts + 1, status=PageStatus.RUNNING, started_at=utcnow(), worker=worker[:200])
                    .returning(Page.id)
                )
            )
        conn.commit()
        for pid in set(locked) - set(claimed):
            conn.execute(select(func.pg_advisory_unlock(ns, _page_key(pid))))
        conn.commit()
        self.page_ids = sorted(claimed)
        return self.page_ids

    def release(self) -> None:
        """Unlock every page: settled ones are no-ops for their messages now, requeued ones theirs to read."""
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            self._conn.commit()
        except Exception as exc:  # the database went away: the server dropped the locks with the session
            log.info("Batch lease not released cleanly: %s", exc)
        finally:
            # Not back into the pool: the session's keepalive settings stay with it.
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:
                pass
            self._conn = None


def requeue(session, page_id: int) -> bool:
    """running -> queued for a batch-mate whose read hit a retryable error: its own message reads it
    again (alone: it has been tried). Its attempt stays counted."""
    return (
        session.execute(
            update(Page)
            .execution_options(synchronize_session=False)
            .where(Page.id == page_id, Page.status == PageStatus.RUNNING)
            .values(status=PageStatus.QUEUED)
        ).rowcount
        == 1
    )
