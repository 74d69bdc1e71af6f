"""finish_job: once every page is settled, assemble the outputs and set the job's final status.

Idempotent: the outputs are rewritten with the same bytes, and only the run
whose conditional UPDATE moves the job out of an active state reports
``ended`` (and so sends the webhook).
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from db.models import FileStatus, Job, JobFile, JobStatus, Page, PageStatus
from db.transitions import end_job, lock_job
from pipeline.formats import to_hocr, to_json, to_pdf, to_text
from pipeline.formats.graft import GraftPage, graft_pdf_bytes
from pipeline.result import Document
from storage import output_key
from worker.context import Context
from worker.documents import job_document
from worker.failures import error_record, file_errors, is_retryable, job_error_from
from worker.inputs import read_input

log = logging.getLogger(__name__)


def finish_job(ctx: Context, job_id: str) -> bool:
    """True when this call ended the job (its webhook is then due)."""
    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        if job is None or job.status in JobStatus.FINAL:
            return False
        complete = job.pages_total > 0 and job.pages_settled >= job.pages_total
        if not complete:
            return False  # a stray message; the last page will ask again
        pages = list(s.scalars(select(Page).where(Page.job_id == job_id).order_by(Page.page_number)))
        lang, outputs = job.lang, job.output_list

    done = [p for p in pages if p.status == PageStatus.DONE]
    with ctx.db.session() as s:
        doc = job_document(s, lang, done)
    for ext in outputs:
        _write_output(ctx, job_id, ext, doc, done)

    with ctx.db.session() as s:
        job = lock_job(s, job_id)
        if job is None or job.status in JobStatus.FINAL:
            return False
        status, error = _final_status(s, job, pages)
        return end_job(s, job_id, status, error)


def _write_output(ctx: Context, job_id: str, ext: str, doc: Document, done: list[Page]) -> None:
    try:
        data = render_output(ctx, ext, doc, done)
        ctx.storage.put(output_key(job_id, ext), data)
    except Exception as exc:
        if is_retryable(exc):
            raise
        # One output that cannot be made must not cost the job its other results.
        error_record(exc, context=f"job {job_id} output {ext}")


def render_output(ctx: Context, ext: str, doc: Document, done: list[Page]) -> bytes:
    """``ext`` is one of core/formats.py's formats (a job's outputs were checked against them at submit)."""
    if ext == "txt":
        return to_text(doc).encode("utf-8")
    if ext == "json":
        return json.dumps(to_json(doc), ensure_ascii=False).encode("utf-8")
    if ext == "hocr":
        return to_hocr(doc).encode("utf-8")
    if ext == "pdf":
        return _searchable_pdf(ctx, doc, done)
    raise ValueError(f"unknown output {ext}")


def _searchable_pdf(ctx: Context, doc: Document, done: list[Page]) -> bytes:
    """The inputs' own pages (PDF pages, pictures) with the text laid over them: pipeline/formats/graft.py."""
    if not done:
        return to_pdf(doc, [])  # an empty document, as every output of a job without a page read
    with ctx.db.session() as s:
        file_ids = {p.file_id for p in done}
        rows = s.execute(select(JobFile.id, JobFile.sha256).where(JobFile.id.in_(file_ids)))
        sha256 = {file_id: digest for file_id, digest in rows}
    # Keyed by file row, not by upload: the same bytes sent twice in one job are two files.
    pages = [GraftPage(str(p.file_id), p.source_page, result) for p, result in zip(done, doc.pages, strict=True)]
    return graft_pdf_bytes(pages, lambda file_id: read_input(ctx.storage, sha256[int(file_id)]))


def _final_status(s, job: Job, pages: list[Page]) -> tuple[str, dict | None]:
    if job.status == JobStatus.CANCELLING:
        return JobStatus.CANCELLED, None
    files = list(s.scalars(select(JobFile).where(JobFile.job_id == job.id).order_by(JobFile.position)))
    failed_files = [f for f in files if f.status == FileStatus.FAILED]
    # Files refused at upload (api/submission.py) were never read: the job cannot have fully succeeded.
    rejected = job.rejected_files or []
    if job.pages_done == 0:
        names = {f.id: f.filename for f in files}
        errors = file_errors(rejected, [(f.position, f.filename, f.error_code, f.error_message) for f in failed_files])
        errors += [
            {"code": p.error_code, "message": f"{names.get(p.file_id, '?')}, page {p.source_page}: {p.error_message}"}
            for p in pages
            if p.error_code
        ]
        return JobStatus.FAILED, job_error_from(errors)
    if job.pages_failed or job.pages_cancelled or failed_files or rejected:
        return JobStatus.PARTIAL_SUCCESS, None
    return JobStatus.SUCCEEDED, None
