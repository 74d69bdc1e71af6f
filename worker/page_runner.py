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

A worker that batches (worker/batching.py) claims more queued pages after its
own and reads them all in one Pipeline.run_pages call; each page is then
settled on its own, by the same steps, as if its own message had read it.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import select

from db.models import Job, JobFile, JobStatus, Page, PageStatus
from db.transitions import JobCounts, claim_page, request_finish, settle_page
from pipeline.loader import load_page
from pipeline.result import Page as ResultPage
from pipeline.text_layer import read_text_layer
from storage import page_image_key
from worker import batching
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
    also_finish: list[str] = field(default_factory=list)  # jobs of batch-mates that are complete now


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

    size = batching.batch_size(ctx.settings)
    if size > 1 and work.attempts == 1 and batching.batching_possible(ctx.db):
        return _run_batch(ctx, work, size, worker_name)

    try:
        result, image_key, timings = _read(ctx, work)
    except Exception as exc:
        return _failed(ctx, work, exc)
    return _done(ctx, work, result, image_key, timings)


def _failed(ctx: Context, work: _Work, exc: BaseException) -> PageOutcome:
    """A read that raised: retried later when retryable and attempts are left, else the page's error."""
    if is_retryable(exc) and work.attempts < ctx.settings.max_page_attempts:
        log.warning("Page %s of job %s: %s; will retry", work.page_number, work.job_id, exc)
        return PageOutcome(retry_in=min(60.0, 2.0**work.attempts), retry_error=exc, job_id=work.job_id)
    error = error_record(exc, context=f"job {work.job_id} page {work.page_number}")
    return _settle(ctx, work, PageStatus.FAILED, error=error)


def _done(ctx: Context, work: _Work, result: dict, image_key: str | None, timings: dict) -> PageOutcome:
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


def _run_batch(ctx: Context, work: _Work, size: int, worker_name: str) -> PageOutcome:
    """Read this page together with up to size-1 queued pages claimed now; settle each on its own.

    This page's outcome is returned as run_page's (its retry is its own message's); a batch-mate
    whose read hit a retryable error goes back to queued for its own message, which is put off
    while the batch's lease holds it (worker/batching.py)."""
    lease = batching.BatchLease(ctx.db)
    mates: list[_Work] = []
    settled: set[int] = set()
    try:
        ids = lease.claim(
            lang=work.lang, detect_orientation=work.detect_orientation, exclude=work.page_id, limit=size - 1, worker=worker_name
        )
        mates = _works(ctx, ids)
        works = [work, *mates]
        reads = _read_together(ctx, works)
        outcomes: dict[int, PageOutcome] = {}
        for w, read in zip(works, reads, strict=True):
            if isinstance(read, BaseException):
                if w is not work and is_retryable(read) and w.attempts < ctx.settings.max_page_attempts:
                    log.warning("Page %s of job %s: %s; back to its own message", w.page_number, w.job_id, read)
                    with ctx.db.session() as s:
                        batching.requeue(s, w.page_id)
                    outcomes[w.page_id] = PageOutcome(job_id=w.job_id)
                else:
                    outcomes[w.page_id] = _failed(ctx, w, read)
            else:
                outcomes[w.page_id] = _done(ctx, w, *read)
            settled.add(w.page_id)
        outcome = outcomes[work.page_id]
        outcome.also_finish = sorted({o.job_id for m in mates if (o := outcomes[m.page_id]).finish and o.job_id})
        return outcome
    finally:
        # Whatever stopped the batch early (a time limit, the database going away): the batch-mates it
        # did not settle go back to their own messages; this page follows run_page's own path.
        for m in mates:
            if m.page_id not in settled:
                try:
                    with ctx.db.session() as s:
                        batching.requeue(s, m.page_id)
                except Exception as exc:  # still running with no lock once the lease is gone: its message reads it
                    log.warning("Page %s of job %s not put back in the queue: %s", m.page_number, m.job_id, exc)
        lease.release()


def _claim(ctx: Context, page_id: int, worker_name: str) -> _Work | PageOutcome:
    with ctx.db.session() as s:
        row = s.execute(_work_rows().where(Page.id == page_id)).first()
        if row is None:
            return PageOutcome()  # job deleted
        page, job = row[0], row[1]
        if page.status in PageStatus.SETTLED:
            # A repeat. If the first run died between settling and enqueueing finish_job, do it now.
            complete = job.pages_total > 0 and job.pages_settled >= job.pages_total
            return PageOutcome(finish=complete and job.status in JobStatus.ACTIVE, job_id=job.id)
        if not batching.page_free(s, ctx.db, page.id):
            # A live batch of another task reads this page: look again once it has settled it.
            return PageOutcome(job_id=job.id, retry_in=batching.PUT_OFF_SECONDS)
        if job.status in (JobStatus.CANCELLING, JobStatus.CANCELLED):
            counts = settle_page(s, page.id, job.id, PageStatus.CANCELLED)
            return _after_settle(s, job.id, counts)
        attempts = claim_page(s, page.id, worker_name)
        if attempts is None:
            return PageOutcome()
        return _work_of(row, attempts)


def _work_rows():
    return (
        select(Page, Job, JobFile.sha256, JobFile.format, JobFile.filename, JobFile.position)
        .join(Job, Page.job_id == Job.id)
        .join(JobFile, Page.file_id == JobFile.id)
    )


def _work_of(row, attempts: int) -> _Work:
    page, job, sha256, file_format, file_name, file_index = row
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


def _works(ctx: Context, page_ids: list[int]) -> list[_Work]:
    """The work of pages claimed by a batch (batching.BatchLease.claim counted their attempt)."""
    if not page_ids:
        return []
    with ctx.db.session() as s:
        rows = s.execute(_work_rows().where(Page.id.in_(page_ids)).order_by(Page.id)).all()
        return [_work_of(row, row[0].attempts) for row in rows]


@dataclass
class _Loaded:
    """A page ready for the pipeline, or already read from its PDF text layer (``result``)."""

    started: float
    result: tuple[dict, None, dict] | None = None
    image: object = None
    image_key: str | None = None
    rasterised: float = 0.0
    note: str | None = None


def _load(ctx: Context, work: _Work) -> _Loaded:
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
            return _Loaded(started, result=(layer.page.to_dict(), None, layer.page.timings))
        if layer.decision.layer_found:
            note = f"pdf_text={work.pdf_text}: the page was OCR'd because {layer.decision.reason}"
    image = load_page(data, work.source_page, ctx.settings.pdf_dpi)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    image_key = page_image_key(work.job_id, work.page_number)
    ctx.storage.put(image_key, buf.getvalue())
    return _Loaded(started, image=image, image_key=image_key, rasterised=time.perf_counter(), note=note)


def _finish_read(work: _Work, loaded: _Loaded, page: ResultPage, batch_size: int) -> tuple[dict, str | None, dict]:
    _record_source(page, work)
    if loaded.note:
        page.warnings.append(loaded.note)
    finished = time.perf_counter()
    timings = {
        "rasterise": round(loaded.rasterised - loaded.started, 4),
        **page.timings,
        "total": round(finished - loaded.started, 4),
        # how many pages the pipeline call that read this page had (Pipeline.run_pages); 1: run_page
        "batch_size": batch_size,
    }
    return page.to_dict(), loaded.image_key, timings


def _read(ctx: Context, work: _Work) -> tuple[dict, str | None, dict]:
    loaded = _load(ctx, work)
    if loaded.result is not None:
        return loaded.result
    pipeline = pipeline_for(ctx.settings.pipeline_factory, work.lang)
    page = pipeline.run_page(loaded.image, work.page_number, detect_orientation=work.detect_orientation)
    return _finish_read(work, loaded, page, 1)


def _read_together(ctx: Context, works: list[_Work]) -> list[tuple[dict, str | None, dict] | BaseException]:
    """Each page's read (as _read's) or the exception that page raised; the pages that need the
    pipeline go through one run_pages call (they share lang and detect_orientation: BatchLease.claim)."""
    reads: list = [None] * len(works)
    loaded: dict[int, _Loaded] = {}
    for i, w in enumerate(works):
        try:
            one = _load(ctx, w)
        except Exception as exc:
            reads[i] = exc
            continue
        if one.result is not None:
            reads[i] = one.result
        else:
            loaded[i] = one
    if loaded:
        slots = sorted(loaded)
        pipeline = pipeline_for(ctx.settings.pipeline_factory, works[0].lang)
        images = [loaded[i].image for i in slots]
        numbers = [works[i].page_number for i in slots]
        run_pages = getattr(pipeline, "run_pages", None)
        if run_pages is not None:
            log.info("Reading %d page(s) together: %s", len(slots), ", ".join(str(works[i].page_id) for i in slots))
            pages = run_pages(images, numbers, detect_orientation=works[0].detect_orientation)
        else:  # a pipeline stage without run_pages (a stand-in): page by page
            pages = [_run_one(pipeline, image, n, works[0].detect_orientation) for image, n in zip(images, numbers, strict=True)]
        size = len(slots) if run_pages is not None else 1
        for i, page in zip(slots, pages, strict=True):
            try:
                reads[i] = page if isinstance(page, BaseException) else _finish_read(works[i], loaded[i], page, size)
            except Exception as exc:
                reads[i] = exc
    return reads


def _run_one(pipeline, image, number: int, detect_orientation: bool):
    try:
        return pipeline.run_page(image, number, detect_orientation=detect_orientation)
    except Exception as exc:
        return exc


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
