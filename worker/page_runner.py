"""run_page: read one page of a job, exactly once, even when its message arrives several times.

Order matters:
1. the attempt is counted and committed first, so a page that kills its
   worker (segfault, OOM killer, kill -9) is failed after max_page_attempts
   instead of looping forever;
2. the page is rasterised, its image stored, and the pipeline run;
3. the result and the job's counters are written in one transaction whose
   UPDATE only matches an open page: a second copy of the message finds the
   page settled and changes nothing.
The last page to settle asks for finish_job (db.transitions.request_finish).
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select

from db.models import Job, JobFile, JobStatus, Page, PageStatus
from db.transitions import JobCounts, claim_page, request_finish, settle_page
from pipeline.loader import load_page
from pipeline.result import Page as ResultPage
from pipeline.text_layer import read_text_layer
from storage import page_image_key
from worker.context import Context
from worker.engine import pipeline_for
from worker.failures import attempts_exhausted, error_record, is_retryable
from worker.inputs import read_input

log = logging.getLogger(__name__)


@dataclass
class PageOutcome:
    finish: bool = False  # enqueue finish_job for the job
    job_id: str | None = None
    retry_in: float | None = None  # try the page again after this many seconds
    retry_error: BaseException | None = None


@dataclass(frozen=True)
class _Work:
    page_id: int
    job_id: str
    page_number: int
    source_page: int
    sha256: str
    lang: str
    detect_orientation: bool
    attempts: int
    file_format: str | None = None
    pdf_text: str = "ocr"
    file_name: str | None = None
    file_index: int | None = None


def run_page(ctx: Context, page_id: int, worker_name: str) -> PageOutcome:
    work_or_outcome = _claim(ctx, page_id, worker_name)
    if isinstance(work_or_outcome, PageOutcome):
        return work_or_outcome
    work = work_or_outcome
    limit = ctx.settings.max_page_attempts
    if work.attempts > limit:
        log.warning("Page %s of job %s failed %s times; giving up", work.page_number, work.job_id, limit)
        return _settle(ctx, work, PageStatus.FAILED, error=attempts_exhausted(work.attempts, limit))

    try:
        result, image_key, timings = _read(ctx, work)
    except Exception as exc:
        if is_retryable(exc) and work.attempts < limit:
            log.warning("Page %s of job %s: %s; will retry", work.page_number, work.job_id, exc)
            return PageOutcome(retry_in=min(60.0, 2.0**work.attempts), retry_error=exc, job_id=work.job_id)
        error = error_record(exc, context=f"job {work.job_id} page {work.page_number}")
        return _settle(ctx, work, PageStatus.FAILED, error=error)

    outcome = _settle(
        ctx,
        work,
        PageStatus.DONE,
        result=result,
        warnings=result.get("warnings") or [],
        timings=timings,
        image_key=image_key,
    )
    if outcome.job_id is None and image_key is not None:  # the job was deleted while we read it: leave nothing behind
        ctx.storage.delete(image_key)
    return outcome


def _claim(ctx: Context, page_id: int, worker_name: str) -> _Work | PageOutcome:
    with ctx.db.session() as s:
        row = s.execute(
            select(Page, Job, JobFile.sha256, JobFile.format, JobFile.filename, JobFile.position)
            .join(Job, Page.job_id == Job.id)
            .join(JobFile, Page.file_id == JobFile.id)
            .where(Page.id == page_id)
        ).first()
        if row is None:
            return PageOutcome()  # job deleted
        page, job, sha256, file_format, file_name, file_index = row
        if page.status in PageStatus.SETTLED:
            # A repeat. If the first run died between settling and enqueueing finish_job, do it now.
            complete = job.pages_total > 0 and job.pages_settled >= job.pages_total
            return PageOutcome(finish=complete and job.status in JobStatus.ACTIVE, job_id=job.id)
        if job.status in (JobStatus.CANCELLING, JobStatus.CANCELLED):
            counts = settle_page(s, page.id, job.id, PageStatus.CANCELLED)
            return _after_settle(s, job.id, counts)
        attempts = claim_page(s, page.id, worker_name)
        if attempts is None:
            return PageOutcome()
        return _Work(
            page_id=page.id,
            job_id=job.id,
            page_number=page.page_number,
            source_page=page.source_page,
            sha256=sha256,
            lang=job.lang,
            detect_orientation=job.detect_orientation,
            attempts=attempts,
            file_format=file_format,
            pdf_text=job.pdf_text or "ocr",
            file_name=file_name,
            file_index=file_index,
        )


def _read(ctx: Context, work: _Work) -> tuple[dict, str | None, dict]:
    started = time.perf_counter()
    data = read_input(ctx.storage, work.sha256)
    note = None
    if work.file_format == "pdf" and work.pdf_text != "ocr":
        # A born-digital page is read from its own text: no rendering, no models, no page image.
        layer = read_text_layer(
            data,
            work.source_page,
            ctx.settings.pdf_dpi,
            work.pdf_text,
            page_number=work.page_number,
            timeout=ctx.settings.page_soft_time_limit,
        )
        if layer.page is not None:
            _record_source(layer.page, work)
            seconds = round(time.perf_counter() - started, 4)
            layer.page.timings = {"text_layer": seconds, "total": seconds}
            return layer.page.to_dict(), None, layer.page.timings
        if layer.decision.layer_found:
            note = f"pdf_text={work.pdf_text}: the page was OCR'd because {layer.decision.reason}"
    image = load_page(data, work.source_page, ctx.settings.pdf_dpi)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    image_key = page_image_key(work.job_id, work.page_number)
    ctx.storage.put(image_key, buf.getvalue())
    rasterised = time.perf_counter()

    pipeline = pipeline_for(ctx.settings.pipeline_factory, work.lang)
    page = pipeline.run_page(image, work.page_number, detect_orientation=work.detect_orientation)
    _record_source(page, work)
    if note:
        page.warnings.append(note)
    finished = time.perf_counter()
    timings = {"rasterise": round(rasterised - started, 4), **page.timings, "total": round(finished - started, 4)}
    return page.to_dict(), image_key, timings


def _record_source(page: ResultPage, work: _Work) -> None:
    """The stored result says which file and page it was read from (result schema version 2)."""
    page.source_page, page.file_name, page.file_index = work.source_page, work.file_name, work.file_index


def _settle(ctx: Context, work: _Work, status: str, **fields) -> PageOutcome:
    with ctx.db.session() as s:
        counts = settle_page(s, work.page_id, work.job_id, status, **fields)
        return _after_settle(s, work.job_id, counts)


def _after_settle(s, job_id: str, counts: JobCounts | None) -> PageOutcome:
    if counts is None:
        exists = s.get(Job, job_id) is not None
        return PageOutcome(job_id=job_id if exists else None)
    return PageOutcome(finish=counts.complete and request_finish(s, job_id), job_id=job_id)


def give_up(ctx: Context, page_id: int, error: dict) -> PageOutcome:
    """Fail a page whose task itself broke (e.g. the database stayed away past every retry)."""
    with ctx.db.session() as s:
        job_id = s.scalar(select(Page.job_id).where(Page.id == page_id))
        if job_id is None:
            return PageOutcome()
        counts = settle_page(s, page_id, job_id, PageStatus.FAILED, error=error)
        return _after_settle(s, job_id, counts)
