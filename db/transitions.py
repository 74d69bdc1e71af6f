"""Every state change of jobs and pages that two processes could race on.

Each change is one conditional UPDATE (``WHERE status IN ...``), so a page is
settled once and counted once however many copies of its message run, and the
job's counters are incremented in the database (``x = x + 1 RETURNING``), not
read-modify-written in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import ApiKey, Job, JobStatus, Page, PageStatus, utcnow


@dataclass(frozen=True)
class JobCounts:
    total: int
    done: int
    failed: int
    cancelled: int

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done + self.failed + self.cancelled >= self.total


_COUNTER = {
    PageStatus.DONE: Job.pages_done,
    PageStatus.FAILED: Job.pages_failed,
    PageStatus.CANCELLED: Job.pages_cancelled,
}


def claim_page(session: Session, page_id: int, worker: str) -> int | None:
    """Count one more attempt at an open page; None when it is settled or gone.

    Callers commit this before doing the work, so an attempt that kills the
    process is still counted.
    """
    row = session.execute(
        update(Page)
        .execution_options(synchronize_session=False)
        .where(Page.id == page_id, Page.status.in_(PageStatus.OPEN))
        .values(attempts=Page.attempts + 1, status=PageStatus.RUNNING, started_at=utcnow(), worker=worker[:200])
        .returning(Page.attempts)
    ).first()
    return None if row is None else row.attempts


def settle_page(
    session: Session,
    page_id: int,
    job_id: str,
    status: str,
    *,
    result: dict | None = None,
    error: dict | None = None,
    warnings: list | None = None,
    timings: dict | None = None,
    image_key: str | None = None,
) -> JobCounts | None:
    """Move an open page to done/failed/cancelled and count it on its job, once.

    Returns the job's counters after this page, or None when another run of the
    same page settled it first (or the job was deleted).
    """
    values = {"status": status, "finished_at": utcnow()}
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error_code"], values["error_message"] = error["code"], error["message"]
    if warnings is not None:
        values["warnings"] = warnings
    if timings is not None:
        values["timings"] = timings
    if image_key is not None:
        values["image_key"] = image_key
    moved = session.execute(
        update(Page)
        .execution_options(synchronize_session=False)
        .where(Page.id == page_id, Page.status.in_(PageStatus.OPEN))
        .values(**values)
    ).rowcount
    if moved != 1:
        return None
    return _add_to_counter(session, job_id, status, 1)


def _add_to_counter(session: Session, job_id: str, status: str, n: int) -> JobCounts | None:
    column = _COUNTER[status]
    row = session.execute(
        update(Job)
        .execution_options(synchronize_session=False)
        .where(Job.id == job_id)
        .values({column: column + n, Job.updated_at: utcnow()})
        .returning(Job.pages_total, Job.pages_done, Job.pages_failed, Job.pages_cancelled)
    ).first()
    return None if row is None else JobCounts(*row)


def request_finish(session: Session, job_id: str) -> bool:
    """True for exactly one caller: the one that must enqueue finish_job."""
    return (
        session.execute(
            update(Job)
            .execution_options(synchronize_session=False)
            .where(Job.id == job_id, Job.finish_requested_at.is_(None), Job.status.in_(JobStatus.ACTIVE))
            .values(finish_requested_at=utcnow())
        ).rowcount
        == 1
    )


def start_job(session: Session, job_id: str, pages_total: int) -> bool:
    """queued -> running with its page count; False if it was cancelled or started meanwhile."""
    return (
        session.execute(
            update(Job)
            .execution_options(synchronize_session=False)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.RUNNING, pages_total=pages_total, started_at=utcnow(), updated_at=utcnow())
        ).rowcount
        == 1
    )


def end_job(session: Session, job_id: str, status: str, error: dict | None = None) -> bool:
    """Any active state -> a final one, once. True for the caller that made the change."""
    values = {"status": status, "finished_at": utcnow(), "updated_at": utcnow()}
    if error is not None:
        values["error_code"], values["error_message"] = error["code"], error["message"]
    return (
        session.execute(
            update(Job)
            .execution_options(synchronize_session=False)
            .where(Job.id == job_id, Job.status.in_(JobStatus.ACTIVE))
            .values(**values)
        ).rowcount
        == 1
    )


def cancel_job(session: Session, job_id: str) -> JobCounts | None:
    """Ask a job to stop: pages not yet started are cancelled now, running ones finish.

    Returns the counters after cancelling, or None when the job was not active.
    """
    moved = session.execute(
        update(Job)
        .execution_options(synchronize_session=False)
        .where(Job.id == job_id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .values(status=JobStatus.CANCELLING, updated_at=utcnow())
    ).rowcount
    if moved != 1:
        return None
    n = session.execute(
        update(Page)
        .execution_options(synchronize_session=False)
        .where(Page.job_id == job_id, Page.status == PageStatus.QUEUED)
        .values(status=PageStatus.CANCELLED, finished_at=utcnow())
    ).rowcount
    counts = _add_to_counter(session, job_id, PageStatus.CANCELLED, n)
    return counts


def charge_quota(session: Session, api_key_id: int, pages: int) -> bool:
    """Take ``pages`` from the key's page quota; False (and nothing taken) when it would overdraw."""
    return (
        session.execute(
            update(ApiKey)
            .execution_options(synchronize_session=False)
            .where(
                ApiKey.id == api_key_id,
                (ApiKey.quota_pages.is_(None)) | (ApiKey.pages_used + pages <= ApiKey.quota_pages),
            )
            .values(pages_used=ApiKey.pages_used + pages)
        ).rowcount
        == 1
    )


def lock_job(session: Session, job_id: str) -> Job | None:
    """The job row, locked until the transaction ends (PostgreSQL; SQLite serialises writers anyway)."""
    return session.scalar(select(Job).where(Job.id == job_id).with_for_update())
