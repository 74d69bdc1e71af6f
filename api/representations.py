"""Jobs as JSON for clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.formats import EXTENSIONS, result_path
from core.settings import get_settings
from db.models import Job, JobFile, Page


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def expires_at(job: Job) -> str | None:
    """When the retention sweep (worker/reconciler.py) deletes the job: retention_days after it ended."""
    days = get_settings().retention_days
    if days <= 0 or job.finished_at is None:
        return None
    return timestamp(job.finished_at + timedelta(days=days))


def _error(code: str | None, message: str | None) -> dict | None:
    return {"code": code, "message": message} if code else None


def links(job_id: str) -> dict:
    base = f"/v1/jobs/{job_id}"
    # "result" is the JSON (it takes ?pages=); then one link per other format of core/formats.py.
    files = {f"result_{ext}": f"{base}{result_path(ext)}" for ext in EXTENSIONS if ext != "json"}
    return {"self": base, "result": f"{base}{result_path('json')}", **files}


def rejected_files(job: Job) -> list[dict]:
    """The request's files refused at upload: [{index, filename, code, message}] (api/submission.py)."""
    return list(job.rejected_files or [])


def filenames(session: Session, jobs: list[Job]) -> dict[str, list[str]]:
    """Each job's file names in upload order, the rejected ones too (they are what the client sent).

    One query for a page of jobs (job_files.job_id is indexed), for the job lists.
    """
    named: dict[str, list[tuple[int, str]]] = {job.id: [(r["index"], r["filename"]) for r in rejected_files(job)] for job in jobs}
    if jobs:
        rows = session.execute(select(JobFile.job_id, JobFile.position, JobFile.filename).where(JobFile.job_id.in_(list(named))))
        for job_id, position, name in rows:
            named[job_id].append((position, name))
    return {job_id: [name for _, name in sorted(pairs)] for job_id, pairs in named.items()}


def job_summary(job: Job, names: list[str]) -> dict:
    """``names``: the job's file names in request order (filenames() for a list of jobs)."""
    return {
        "job_id": job.id,
        "status": job.status,
        "filenames": names,
        "lang": job.lang,
        "page_range": job.page_spec,
        "detect_orientation": job.detect_orientation,
        "pdf_text": job.pdf_text,
        "outputs": job.output_list,
        "job_tag": job.job_tag,
        "client_request_token": job.client_request_token,
        "pages_total": job.pages_total,
        "pages_done": job.pages_done,
        "pages_failed": job.pages_failed,
        "pages_cancelled": job.pages_cancelled,
        "created_at": timestamp(job.created_at),
        "started_at": timestamp(job.started_at),
        "finished_at": timestamp(job.finished_at),
        "updated_at": timestamp(job.updated_at),
        "expires_at": expires_at(job),
        "error": _error(job.error_code, job.error_message),
    }


def file_view(f: JobFile) -> dict:
    return {
        "index": f.position,
        "filename": f.filename,
        "sha256": f.sha256,
        "size_bytes": f.size_bytes,
        "format": f.format,
        "page_count": f.page_count,
        "status": f.status,
        "error": _error(f.error_code, f.error_message),
    }


def rejected_file_view(r: dict) -> dict:
    """A file refused at upload, in the shape of file_view: nothing of it was kept."""
    return {
        "index": r["index"],
        "filename": r["filename"],
        "sha256": None,
        "size_bytes": None,
        "format": None,
        "page_count": None,
        "status": "rejected",
        "error": _error(r["code"], r["message"]),
    }


def page_view(p: Page, file_positions: dict[int, int]) -> dict:
    return {
        "page_number": p.page_number,
        "file_index": file_positions.get(p.file_id),
        "source_page": p.source_page,
        "status": p.status,
        "attempts": p.attempts,
        "warnings": p.warnings or [],
        "error": _error(p.error_code, p.error_message),
        "timings": p.timings or {},
        "started_at": timestamp(p.started_at),
        "finished_at": timestamp(p.finished_at),
    }


def job_detail(job: Job, files: list[JobFile], pages: list[Page]) -> dict:
    positions = {f.id: f.position for f in files}
    rejected = rejected_files(job)
    # Every file the client sent, in request order: index is the place in the request, shared by
    # accepted and rejected files, and what a page's file_index points at.
    file_views = sorted([file_view(f) for f in files] + [rejected_file_view(r) for r in rejected], key=lambda v: v["index"])
    view = job_summary(job, [v["filename"] for v in file_views])
    view["files"] = file_views
    view["rejected"] = rejected
    view["pages"] = [page_view(p, positions) for p in pages]
    view["warnings"] = [{"page_number": p.page_number, "warnings": p.warnings} for p in pages if p.warnings]
    view["callback_url"] = job.callback_url
    view["webhook"] = (
        {"status": job.webhook_status, "attempts": job.webhook_attempts, "error": job.webhook_error} if job.callback_url else None
    )
    view["links"] = links(job.id)
    return view
