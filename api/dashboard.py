"""/v1/admin: the operations dashboard's data and actions (admin keys only).

Cancel and delete are the ordinary /v1/jobs endpoints (admin keys may act on
any job); retry and rerun live here because only operators use them. Both
re-enqueue through worker.queueing, as the API does for a new job.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.datastructures import MultiDict

from api import dashboard_queries as q
from api.auth import require_admin
from api.deletion import delete_job_data
from api.schemas import AdminJobListQuery, MinutesQuery, RerunBody, validate
from api.services import services
from api.submission import parse_options
from core.errors import NotFound, QueueUnavailable
from db.models import Job, JobStatus
from db.requeue import rerun, retry_failed, undo_retry
from worker.queueing import SPLIT_JOB, enqueue, enqueue_pages

bp = Blueprint("dashboard", __name__)


def _job_filter(args: AdminJobListQuery) -> q.JobFilter:
    created_before = args.created_before
    if created_before and len(request.args.get("created_before", "").strip()) == 10:
        created_before = created_before.replace(hour=23, minute=59, second=59, microsecond=999999)  # a date includes its day
    return q.JobFilter(
        statuses=args.status,
        tag=args.tag,
        key_id=args.key_id,
        created_after=args.created_after,
        created_before=created_before,
        job_id_prefix=args.job_id.lower() if args.job_id else None,
    )


@bp.get("/v1/admin/overview")
@require_admin
def overview():
    return jsonify(q.overview(services()))


@bp.get("/v1/admin/throughput")
@require_admin
def throughput():
    return jsonify(q.throughput(services(), validate(MinutesQuery, request.args).minutes))


@bp.get("/v1/admin/stage-times")
@require_admin
def stage_times():
    return jsonify(q.stage_times(services(), validate(MinutesQuery, request.args).minutes))


@bp.get("/v1/admin/jobs")
@require_admin
def jobs():
    args = validate(AdminJobListQuery, request.args)
    return jsonify(q.list_jobs(services(), _job_filter(args), args.page, args.per_page))


@bp.get("/v1/admin/jobs/<job_id>")
@require_admin
def job(job_id: str):
    view = q.job_detail(services(), job_id)
    if view is None:
        raise NotFound(f"No job {job_id}.")
    return jsonify(view)


@bp.post("/v1/admin/jobs/<job_id>/retry")
@require_admin
def retry(job_id: str):
    """Failed pages go back in the queue with fresh attempt counters; a job with no readable file is split again."""
    svc = services()
    with svc.db.session() as s:
        plan = retry_failed(s, job_id)
    try:
        if plan.resplit:
            enqueue(svc.celery, SPLIT_JOB, job_id)
        else:
            enqueue_pages(svc.celery, plan.page_ids)
    except QueueUnavailable as exc:
        with svc.db.session() as s:
            undo_retry(s, plan, {"code": exc.code, "message": exc.message})
        raise
    response = jsonify({"job_id": job_id, "pages_requeued": len(plan.page_ids), "resplit": plan.resplit})
    response.status_code = 202
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return response


@bp.post("/v1/admin/jobs/<job_id>/rerun")
@require_admin
def rerun_job(job_id: str):
    """A new job over the same files; options not given keep the old job's values."""
    svc = services()
    body = request.get_json(silent=True) or request.form.to_dict()
    validate(RerunBody, body)  # a body that is not an object, or a bad option, answers 400 before the job is read
    with svc.db.session() as s:
        old = s.get(Job, job_id)
        if old is None:
            raise NotFound(f"No job {job_id}.")
        defaults = {
            "lang": old.lang,
            "pages": old.page_spec or "",
            "detect_orientation": "true" if old.detect_orientation else "false",
            "outputs": old.outputs,
            "job_tag": old.job_tag or "",
        }
    form = MultiDict({k: str(body.get(k, v) if body.get(k) is not None else v) for k, v in defaults.items()})
    options = parse_options(form)
    with svc.db.session() as s:
        new = rerun(
            s,
            job_id,
            lang=options.lang,
            page_spec=options.page_spec,
            detect_orientation=options.detect_orientation,
            outputs=",".join(options.outputs),
            job_tag=options.job_tag,
        )
        new_id = new.id
    try:
        enqueue(svc.celery, SPLIT_JOB, new_id)
    except QueueUnavailable:
        delete_job_data(svc, new_id)  # nothing half-accepted, as for a new job
        raise
    response = jsonify({"job_id": new_id, "rerun_of": job_id, "status": JobStatus.QUEUED})
    response.status_code = 202
    response.headers["Location"] = f"/v1/jobs/{new_id}"
    return response
