"""Jobs as JSON for clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    return {
        "self": base,
        "result": f"{base}/result",
        "result_txt": f"{base}/result.txt",
        "result_hocr": f"{base}/result.hocr",
        "result_pdf": f"{base}/result.pdf",
    }


def job_summary(job: Job) -> dict:
    return {
        "job_id": job.id,
        "status": job.status,
        "lang": job.lang,
        "page_range": job.page_spec,
        "detect_orientation": job.detect_orientation,
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
        "filename": f.filename,
        "sha256": f.sha256,
        "size_bytes": f.size_bytes,
        "format": f.format,
        "page_count": f.page_count,
        "status": f.status,
        "error": _error(f.error_code, f.error_message),
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
    view = job_summary(job)
    view["files"] = [file_view(f) for f in files]
    view["pages"] = [page_view(p, positions) for p in pages]
    view["warnings"] = [{"page_number": p.page_number, "warnings": p.warnings} for p in pages if p.warnings]
    view["callback_url"] = job.callback_url
    view["webhook"] = (
        {"status": job.webhook_status, "attempts": job.webhook_attempts, "error": job.webhook_error} if job.callback_url else None
    )
    view["links"] = links(job.id)
    return view
