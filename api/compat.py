"""The earlier demo's endpoints, kept for its clients, served through the same queue as /v1/jobs.

``POST /api/ocr`` (form field ``image``, optional ``lang``) and ``POST /v1/index``
(field ``file`` or ``image``) create an ordinary job, wait for it (polling the
database, at most settings.sync_timeout seconds) and answer in the old shapes.
They need an API key unless OCR_ANONYMOUS_COMPAT is set.
"""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from api.auth import authenticate
from api.errors import as_ocr_error, compat_ocr_error_response, job_failed_response, wait_timeout_response
from api.services import Services, services
from api.submission import parse_options, read_uploads, submit
from core.errors import ServerBusy
from db.models import Job, JobStatus, Page, PageStatus

bp = Blueprint("compat", __name__)

POLL_SECONDS = 0.25
BUSY_RETRY_AFTER = 2  # seconds; a slot frees whenever any waiting request ends


def _answer(svc: Services, field_names: tuple[str, ...], outputs: str, render):
    """Run one synchronous request in a wait slot; errors in the old shape, outages as 503."""
    if not svc.sync_slots.acquire(blocking=False):
        return compat_ocr_error_response(
            ServerBusy(
                f"{svc.settings.max_sync_waits} synchronous requests are already waiting for their jobs; "
                "try again shortly, or submit to /v1/jobs and poll.",
                retry_after=BUSY_RETRY_AFTER,
            )
        )
    try:
        job, seconds = _sync_job(svc, field_names, outputs)
        if (answer := _unfinished(svc, job)) is not None:
            return answer
        return render(job, seconds)
    except Exception as exc:
        err = as_ocr_error(exc)
        if err is None:
            raise
        return compat_ocr_error_response(err)
    finally:
        svc.sync_slots.release()


def _sync_job(svc: Services, field_names: tuple[str, ...], outputs: str) -> tuple[Job, float]:
    """Submit the request's file as a job and wait for it; returns the job (final or not) and the seconds taken."""
    started = time.perf_counter()
    caller = authenticate(allow_anonymous=svc.settings.anonymous_compat)
    files = next((request.files.getlist(name) for name in field_names if request.files.getlist(name)), [])
    form = MultiDict({"lang": request.form.get("lang") or "mix", "outputs": outputs})
    uploads, _ = read_uploads(files[:1], svc.settings.max_upload_bytes, 1)  # one file: bad means refused
    job, _ = submit(svc, caller, uploads, parse_options(form))
    deadline = started + svc.settings.sync_timeout
    while True:
        with svc.db.session() as s:
            job = s.get(Job, job.id)
        if job is None or job.status in JobStatus.FINAL or time.perf_counter() >= deadline:
            return job, time.perf_counter() - started
        time.sleep(POLL_SECONDS)


def _done_pages(svc: Services, job_id: str) -> list[Page]:
    with svc.db.session() as s:
        return list(
            s.scalars(select(Page).where(Page.job_id == job_id, Page.status == PageStatus.DONE).order_by(Page.page_number))
        )


def _unfinished(svc: Services, job: Job):
    if job.status not in JobStatus.FINAL:
        return wait_timeout_response(job.id, svc.settings.sync_timeout)
    if job.pages_done == 0:
        return job_failed_response(job.error_code, job.error_message, job.id)
    return None


@bp.post("/api/ocr")
def api_ocr():
    svc = services()

    def render(job: Job, seconds: float):
        lines = [line for page in _done_pages(svc, job.id) for line in page.result["lines"]]
        return jsonify(
            {
                "success": True,
                "text": [{"text": line["text"], "confidence": line["confidence"]} for line in lines],
                "total_time": round(seconds, 3),
                "job_id": job.id,
            }
        )

    return _answer(svc, ("image", "file"), "json", render)


@bp.post("/v1/index")
def index_predict():
    svc = services()

    def render(job: Job, _seconds: float):
        pages = _done_pages(svc, job.id)
        prediction = [
            {"page": page.page_number, "text": line["text"], "confidence": line["confidence"], "bbox": line["bbox"]}
            for page in pages
            for line in page.result["lines"]
        ]
        return jsonify(
            {
                "image_url": f"/v1/jobs/{job.id}/pages/{pages[0].page_number}/image",
                "prediction": prediction,
                "job_id": job.id,
            }
        )

    return _answer(svc, ("file", "image"), "json,txt", render)
