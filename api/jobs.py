"""/v1/jobs: submit, look up, list, fetch results, cancel and delete jobs.

A key sees only its own jobs (admin keys see all); another key's job answers
404, exactly like a job that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import func, select

from api.auth import Caller, authenticate, require_key
from api.deletion import delete_job_data
from api.page_images import draw_text_layer_page
from api.representations import filenames, job_detail, job_summary, rejected_files
from api.schemas import MAX_DB_INT, JobListQuery, validate
from api.services import services
from api.submission import RecordedJob, parse_options, read_uploads, submit
from core.errors import Conflict, NotFound, OutputNotRequested
from core.formats import BY_EXT, EXTENSIONS
from db.models import Job, JobFile, JobStatus, Page, PageStatus
from db.transitions import cancel_job, request_finish
from pipeline.formats.json_doc import to_json
from pipeline.pages import parse_page_range
from storage import output_key
from worker.documents import job_document
from worker.finishing import render_output
from worker.queueing import FINISH_JOB, enqueue

bp = Blueprint("jobs", __name__)


def load_job(job_id: str, caller: Caller) -> Job:
    with services().db.session() as s:
        job = s.get(Job, job_id)
    if job is None or (job.api_key_id != caller.id and not caller.is_admin):
        raise NotFound(f"No job {job_id}.")
    return job


def accepted(job: Job | RecordedJob, created: bool, status: int = 202) -> Response:
    """202 with each file's outcome: ``accepted`` [{index, filename}] and ``rejected`` [{index, filename, code, message}]."""
    if created:  # api/submission.py recorded it with its files: no query
        files = sorted((f.position, f.filename) for f in job.files)
    else:
        with services().db.session() as s:
            files = s.execute(
                select(JobFile.position, JobFile.filename).where(JobFile.job_id == job.id).order_by(JobFile.position)
            ).all()
    response = jsonify(
        {
            "job_id": job.id,
            "status": job.status,
            "accepted": [{"index": position, "filename": name} for position, name in files],
            "rejected": rejected_files(job),
        }
    )
    response.status_code = status
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    response.headers["Retry-After"] = "2"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("/v1/jobs")
@require_key
def create_job():
    svc = services()
    options = parse_options(request.form)
    uploads, rejected = read_uploads(request.files.getlist("file"), svc.settings.max_upload_bytes, svc.settings.max_files_per_job)
    job, created = submit(svc, g.api_key, uploads, options, rejected)
    return accepted(job, created)


@bp.get("/v1/jobs/<job_id>")
@require_key
def get_job(job_id: str):
    job = load_job(job_id, g.api_key)
    with services().db.session() as s:
        files = list(s.scalars(select(JobFile).where(JobFile.job_id == job_id).order_by(JobFile.position)))
        pages = list(s.scalars(select(Page).where(Page.job_id == job_id).order_by(Page.page_number)))
    return jsonify(job_detail(job, files, pages))


@bp.get("/v1/jobs")
@require_key
def list_jobs():
    caller: Caller = g.api_key
    args = validate(JobListQuery, request.args)
    query = select(Job)
    if caller.is_admin and args.key_id is not None:
        query = query.where(Job.api_key_id == args.key_id)
    elif not (caller.is_admin and args.all):
        query = query.where(Job.api_key_id == caller.id)
    if args.status:
        query = query.where(Job.status.in_(args.status))
    if tag := args.tag or args.job_tag:
        query = query.where(Job.job_tag == tag)
    if args.created_after:
        query = query.where(Job.created_at >= args.created_after)
    if args.created_before:
        query = query.where(Job.created_at < args.created_before)
    page, per_page = args.page, args.per_page
    with services().db.session() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        jobs = list(s.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(per_page).offset((page - 1) * per_page)))
        names = filenames(s, jobs)
    return jsonify({"jobs": [job_summary(j, names[j.id]) for j in jobs], "page": page, "per_page": per_page, "total": total})


@bp.get("/v1/jobs/<job_id>/result")
@require_key
def get_result(job_id: str):
    """The pipeline's JSON for the finished pages, optionally only those in ?pages=1-3,5."""
    job = load_job(job_id, g.api_key)
    query = select(Page).where(Page.job_id == job_id, Page.status == PageStatus.DONE).order_by(Page.page_number)
    spec = request.args.get("pages")
    if spec and job.pages_total:
        query = query.where(Page.page_number.in_(parse_page_range(spec, job.pages_total)))
    with services().db.session() as s:
        document = to_json(job_document(s, job.lang, list(s.scalars(query))))
    document.update(
        job_id=job.id,
        status=job.status,
        complete=job.status in JobStatus.FINAL,
        pages_total=job.pages_total,
    )
    return jsonify(document)


@bp.get("/v1/jobs/<job_id>/result.<ext>")
@require_key
def get_result_file(job_id: str, ext: str):
    if ext not in BY_EXT:
        raise NotFound(f"No result format {ext!r}; use {', '.join(EXTENSIONS)}.")
    job = load_job(job_id, g.api_key)
    if job.status not in JobStatus.FINAL:
        raise Conflict(f"The job is {job.status}; its {ext} result is ready when it has finished.")
    if ext in job.output_list:
        try:
            data = services().storage.get(output_key(job_id, ext))
        except NotFound as exc:
            raise NotFound(f"The job has no {ext} result ({job.status}, {job.pages_done} page(s) read).") from exc
    else:
        data = _output_on_demand(job, ext)
    response = Response(data, mimetype=None, content_type=BY_EXT[ext].media_type)
    response.headers["Content-Disposition"] = f'inline; filename="{job_id}.{ext}"'
    return response


def _output_on_demand(job: Job, ext: str) -> bytes:
    """An output the job did not ask for, rendered now from its stored page results (not stored).

    The text formats are a moment's work from the results in the database, with the worker's own
    renderers. A binary one (the searchable PDF) is not: it needs every page image again, which is
    the worker's job, so it is refused with the reason. Nothing is cached, so a job retried later
    never serves an output of its earlier pages.
    """
    if BY_EXT[ext].binary:
        raise OutputNotRequested(
            f"The job did not ask for a {ext} output (outputs={','.join(job.output_list)}), and a {ext} can only be "
            f"made while the job runs (it is built from every uploaded file by a worker, too much for a request): "
            f"submit the files again with {ext} in outputs."
        )
    if job.pages_done == 0:
        raise NotFound(f"The job has no {ext} result ({job.status}, no page read).")
    with services().db.session() as s:
        done = list(
            s.scalars(select(Page).where(Page.job_id == job.id, Page.status == PageStatus.DONE).order_by(Page.page_number))
        )
        document = job_document(s, job.lang, done)
    return render_output(services(), ext, document, done)


@bp.get("/v1/jobs/<job_id>/pages/<int:page_number>/image")
def get_page_image(job_id: str, page_number: int):
    """Page ``page_number`` as the pipeline saw it (the coordinates in the results refer to it)."""
    # POST /v1/index hands this URL to clients that may have no key (OCR_ANONYMOUS_COMPAT).
    load_job(job_id, authenticate(allow_anonymous=services().settings.anonymous_compat))
    image_key = None
    if page_number <= MAX_DB_INT:  # a larger number is no page, not a database error
        with services().db.session() as s:
            image_key = s.scalar(select(Page.image_key).where(Page.job_id == job_id, Page.page_number == page_number))
        if not image_key:
            image_key = draw_text_layer_page(services(), job_id, page_number)  # a born-digital page: drawn now
    if not image_key:
        raise NotFound(f"Page {page_number} of job {job_id} has no image (yet).")
    return Response(services().storage.get(image_key), content_type="image/png")


@bp.post("/v1/jobs/<job_id>/cancel")
@require_key
def cancel(job_id: str):
    svc = services()
    load_job(job_id, g.api_key)
    with svc.db.session() as s:
        counts = cancel_job(s, job_id)
        finish = counts is not None and counts.complete and request_finish(s, job_id)
        status = s.scalar(select(Job.status).where(Job.id == job_id))
    if counts is None and status not in (JobStatus.CANCELLING, JobStatus.CANCELLED):
        raise Conflict(f"The job has already finished ({status}); there is nothing to cancel.")
    if finish:
        enqueue(svc.celery, FINISH_JOB, job_id)
    response = jsonify({"job_id": job_id, "status": status})
    response.status_code = 202
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return response


@bp.delete("/v1/jobs/<job_id>")
@require_key
def delete(job_id: str):
    load_job(job_id, g.api_key)
    delete_job_data(services(), job_id)
    return Response(status=204)
