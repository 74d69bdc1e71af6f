"""Putting finished work back in line: retry a job's failed pages, or rerun a job with other options.

Like ``db.transitions``, each change is a conditional UPDATE, so two admins
pressing "retry" at once reopen the pages once. The caller commits, then
enqueues what is returned (ids only, as everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound
from db.blobs import add_references
from db.models import FileStatus, Job, JobFile, JobStatus, Page, PageStatus, utcnow

RETRYABLE_JOBS = (JobStatus.FAILED, JobStatus.PARTIAL_SUCCESS)


@dataclass
class Retry:
    job_id: str
    previous_status: str
    page_ids: list[int] = field(default_factory=list)  # run_page for each
    previous_errors: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)  # page id -> (code, message)
    previous_error: tuple[str | None, str | None] = (None, None)  # the job's
    resplit: bool = False  # the job had no pages (its files failed): split_job again


def retry_failed(session: Session, job_id: str) -> Retry:
    """Reopen a finished job's failed pages (attempt counters reset), or re-split a job none of whose files could be read."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"No job {job_id}.")
    if job.status not in RETRYABLE_JOBS:
        raise Conflict(f"Only failed or partially successful jobs can be retried; this one is {job.status}.")
    plan = Retry(job_id=job_id, previous_status=job.status, previous_error=(job.error_code, job.error_message))
    if job.pages_total == 0:
        return _resplit(session, plan)

    failed = session.execute(
        select(Page.id, Page.error_code, Page.error_message).where(Page.job_id == job_id, Page.status == PageStatus.FAILED)
    ).all()
    plan.previous_errors = {row.id: (row.error_code, row.error_message) for row in failed}
    page_ids = list(
        session.scalars(
            update(Page)
            .execution_options(synchronize_session=False)
            .where(Page.id.in_(plan.previous_errors), Page.status == PageStatus.FAILED)
            .values(status=PageStatus.QUEUED, attempts=0, error_code=None, error_message=None, started_at=None, finished_at=None)
            .returning(Page.id)
        )
    )
    if not page_ids:
        raise Conflict("The job has no failed pages to retry (a file that could not be read needs a rerun).")
    reopened = session.execute(
        update(Job)
        .execution_options(synchronize_session=False)
        .where(Job.id == job_id, Job.status.in_(RETRYABLE_JOBS))
        .values(
            status=JobStatus.RUNNING,
            pages_failed=Job.pages_failed - len(page_ids),
            error_code=None,
            error_message=None,
            finish_requested_at=None,
            finished_at=None,
            updated_at=utcnow(),
        )
    ).rowcount
    if reopened != 1:  # another request got there first; undo ours by rolling back
        raise Conflict("The job changed while it was being retried; reload and try again.")
    plan.page_ids = sorted(page_ids)
    return plan


def _resplit(session: Session, plan: Retry) -> Retry:
    job_id = plan.job_id
    reopened = session.execute(
        update(Job)
        .execution_options(synchronize_session=False)
        .where(Job.id == job_id, Job.status.in_(RETRYABLE_JOBS), Job.pages_total == 0)
        .values(
            status=JobStatus.QUEUED,
            error_code=None,
            error_message=None,
            finish_requested_at=None,
            started_at=None,
            finished_at=None,
            updated_at=utcnow(),
        )
    ).rowcount
    if reopened != 1:
        raise Conflict("The job changed while it was being retried; reload and try again.")
    session.execute(
        update(JobFile)
        .execution_options(synchronize_session=False)
        .where(JobFile.job_id == job_id)
        .values(status=FileStatus.PENDING, error_code=None, error_message=None)
    )
    plan.resplit = True
    return plan


def undo_retry(session: Session, plan: Retry, error: dict) -> None:
    """The retry could not be enqueued (broker down): put the job back as it was, with ``error`` saying why.

    Only what is still untouched is reverted: a page a worker has meanwhile picked up stays with the worker.
    """
    now = utcnow()
    if plan.resplit:
        session.execute(
            update(Job)
            .execution_options(synchronize_session=False)
            .where(Job.id == plan.job_id, Job.status == JobStatus.QUEUED)
            .values(status=plan.previous_status, error_code=error["code"], error_message=error["message"], finished_at=now)
        )
        return
    reverted = 0
    for page_id in plan.page_ids:
        code, message = plan.previous_errors.get(page_id, (error["code"], error["message"]))
        reverted += session.execute(
            update(Page)
            .execution_options(synchronize_session=False)
            .where(Page.id == page_id, Page.status == PageStatus.QUEUED, Page.attempts == 0)
            .values(status=PageStatus.FAILED, error_code=code, error_message=message, finished_at=now)
        ).rowcount
    values = {"pages_failed": Job.pages_failed + reverted, "updated_at": now}
    if reverted == len(plan.page_ids):  # nothing got through: the job is final again, as it was
        code, message = plan.previous_error
        values.update(status=plan.previous_status, error_code=code, error_message=message, finished_at=now)
    session.execute(update(Job).execution_options(synchronize_session=False).where(Job.id == plan.job_id).values(**values))


def rerun(session: Session, job_id: str, **options) -> Job:
    """A new job over the same uploaded files, owned by the same key, with ``options`` replacing the old ones.

    ``options`` are Job columns (lang, page_spec, detect_orientation, outputs, job_tag), already validated.
    """
    # Locked so the old job cannot be deleted, and its uploads with it, until the new job has counted them.
    old = session.get(Job, job_id, with_for_update=True)
    if old is None:
        raise NotFound(f"No job {job_id}.")
    files = list(session.scalars(select(JobFile).where(JobFile.job_id == job_id).order_by(JobFile.position)))
    if not files:
        raise Conflict("The job has no files to read again.")
    values = {
        "lang": old.lang,
        "page_spec": old.page_spec,
        "detect_orientation": old.detect_orientation,
        "pdf_text": old.pdf_text,
        "outputs": old.outputs,
        "job_tag": old.job_tag,
        "callback_url": old.callback_url,
    }
    values.update(options)
    job = Job(api_key_id=old.api_key_id, status=JobStatus.QUEUED, **values)
    session.add(job)
    session.flush()
    # Numbered afresh: the new job is a request of these files alone (the old one's refused files are not in it).
    for position, f in enumerate(files):
        session.add(JobFile(job_id=job.id, position=position, filename=f.filename, sha256=f.sha256, size_bytes=f.size_bytes))
    add_references(session, [f.sha256 for f in files])
    session.flush()
    return job
