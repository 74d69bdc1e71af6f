"""split_job: turn a queued job's files into page rows, one run_page message each.

A file that cannot be used (unknown type, corrupt, encrypted, empty, too many
pages, bad page range) gets its own error and the job goes on with the
others; a job with no usable page at all fails. Running this twice is
harmless: a job that is already running only has its open pages re-sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from core.errors import QuotaExceeded, TooManyPages
from db.models import FileStatus, Job, JobFile, JobStatus, Page, PageStatus
from db.transitions import charge_quota, end_job, start_job
from pipeline.loader import count_pages, sniff_format
from pipeline.pages import parse_page_range
from worker.context import Context
from worker.failures import error_record, file_errors, is_retryable, job_error_from
from worker.inputs import read_input

log = logging.getLogger(__name__)


@dataclass
class FilePlan:
    file_id: int
    format: str | None = None
    page_count: int | None = None
    pages: list[int] = field(default_factory=list)
    error: dict | None = None


@dataclass
class SplitOutcome:
    page_ids: list[int] = field(default_factory=list)  # to enqueue
    ended: bool = False  # the job reached a final state here (send its webhook)


class _JobNoLongerQueued(Exception):
    """Rolls back the split when the job was cancelled while its files were read."""


def split_job(ctx: Context, job_id: str) -> SplitOutcome:
    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            return SplitOutcome()  # deleted meanwhile
        if job.status == JobStatus.RUNNING:
            return SplitOutcome(page_ids=_open_page_ids(s, job_id))  # a repeat: re-send what is not done
        if job.status == JobStatus.CANCELLING:
            return SplitOutcome(ended=end_job(s, job_id, JobStatus.CANCELLED))
        if job.status != JobStatus.QUEUED:
            return SplitOutcome()
        files = [(f.id, f.sha256, f.filename) for f in job.files]
        page_spec, api_key_id = job.page_spec, job.api_key_id

    plans = [_plan_file(ctx, file_id, sha256, filename, page_spec) for file_id, sha256, filename in files]
    _apply_page_budget(plans, ctx.settings.max_pages_per_job)
    try:
        return _record_split(ctx, job_id, api_key_id, plans)
    except _JobNoLongerQueued:
        with ctx.db.session() as s:
            job = s.get(Job, job_id)
            ended = job is not None and job.status == JobStatus.CANCELLING and end_job(s, job_id, JobStatus.CANCELLED)
            return SplitOutcome(ended=ended)


def _plan_file(ctx: Context, file_id: int, sha256: str, filename: str, page_spec: str | None) -> FilePlan:
    plan = FilePlan(file_id=file_id)
    try:
        data = read_input(ctx.storage, sha256)
        plan.format = sniff_format(data)
        plan.page_count = count_pages(data)
        plan.pages = parse_page_range(page_spec, plan.page_count)
    except Exception as exc:
        if is_retryable(exc):
            raise  # storage outage: the task is retried, nothing is recorded
        plan.pages = []
        plan.error = error_record(exc, context=f"splitting {filename}")
        log.info("File %s (%s) is unusable: %s", file_id, filename, plan.error["code"])
    return plan


def _apply_page_budget(plans: list[FilePlan], max_pages: int) -> None:
    """Files are taken in upload order until the job's page limit; a file that would pass it fails whole."""
    used = 0
    for plan in plans:
        if plan.error is None and used + len(plan.pages) > max_pages:
            err = TooManyPages(
                f"This file has {len(plan.pages)} page(s) to read and the job already has {used}; "
                f"a job may have at most {max_pages} pages."
            )
            plan.pages, plan.error = [], {"code": err.code, "message": err.message}
        used += len(plan.pages)


def _record_split(ctx: Context, job_id: str, api_key_id: int, plans: list[FilePlan]) -> SplitOutcome:
    total = sum(len(p.pages) for p in plans)
    with ctx.db.session() as s:
        # The job's row before its files' rows, the order a delete takes them in: the opposite
        # order deadlocked against a delete of the same job.
        job = s.get(Job, job_id, with_for_update=True)
        if job is None or job.status != JobStatus.QUEUED:
            raise _JobNoLongerQueued()
        for plan in plans:
            f = s.get(JobFile, plan.file_id)
            f.format, f.page_count = plan.format, plan.page_count
            if plan.error:
                f.status, f.error_code, f.error_message = FileStatus.FAILED, plan.error["code"], plan.error["message"]
            else:
                f.status = FileStatus.READY
        if total == 0:
            files = {f.id: f for f in s.scalars(select(JobFile).where(JobFile.job_id == job_id))}
            failed = [
                (files[p.file_id].position, files[p.file_id].filename, p.error["code"], p.error["message"])
                for p in plans
                if p.error
            ]
            # The files refused at upload are named too: no file of the request was read.
            error = job_error_from(file_errors(job.rejected_files, failed))
            return SplitOutcome(ended=end_job(s, job_id, JobStatus.FAILED, error))
        if not charge_quota(s, api_key_id, total):
            err = QuotaExceeded(f"This job has {total} page(s), more than is left of this key's page quota.")
            return SplitOutcome(ended=end_job(s, job_id, JobStatus.FAILED, {"code": err.code, "message": err.message}))
        if not start_job(s, job_id, total):
            raise _JobNoLongerQueued()
        pages = []
        number = 0
        for plan in plans:
            for source_page in plan.pages:
                number += 1
                pages.append(
                    Page(
                        job_id=job_id,
                        file_id=plan.file_id,
                        page_number=number,
                        source_page=source_page,
                        status=PageStatus.QUEUED,
                        attempts=0,
                    )
                )
        s.add_all(pages)
        s.flush()
        return SplitOutcome(page_ids=[p.id for p in pages])


def _open_page_ids(s, job_id: str) -> list[int]:
    return list(
        s.scalars(select(Page.id).where(Page.job_id == job_id, Page.status.in_(PageStatus.OPEN)).order_by(Page.page_number))
    )


def abandon_job(ctx: Context, job_id: str, error: dict) -> bool:
    """A job whose split or finish failed for good: fail it rather than leave it waiting forever."""
    with ctx.db.session() as s:
        return end_job(s, job_id, JobStatus.FAILED, error)
