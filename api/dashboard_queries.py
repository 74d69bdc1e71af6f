"""The operations dashboard's figures, read from the database and the broker on every request.

Nothing is kept in process memory, so the figures survive restarts and agree
across API processes. Every query is bounded by an index (see the comments)
so the dashboard stays fast with many thousands of jobs:

- queue depth: Redis LLEN of each Celery queue (and its priority sub-queues);
- oldest waiting page: ix_pages_status_created;
- throughput per minute: ix_pages_status_finished and ix_jobs_status_finished, grouped in SQL;
- stage times: the timings of the most recent finished pages (at most SAMPLE_LIMIT), same indexes;
- job list: ix_jobs_status_created / ix_jobs_tag_created / ix_jobs_key_created / ix_jobs_created.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

from api.representations import filenames, timestamp
from api.services import Services
from db.models import ApiKey, Job, JobFile, JobStatus, Page, PageStatus
from db.workers import WorkerHeartbeat
from worker.celery_app import QUEUES

# kombu's Redis transport keeps messages sent with a priority in sibling lists named queue + "\x06\x16" + step.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
STAGES = ("rasterise", "orientation", "detection", "recognition", "total")
SAMPLE_LIMIT = 2000  # most recent pages/jobs whose times make the percentiles (ample for a p95)
OFFLINE_AFTER_BEATS = 3


def now_utc() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- queues and workers ----------------------------------------------------------------------


def queue_depths(svc: Services) -> dict:
    """Messages waiting per queue, and messages taken by workers but not yet acknowledged."""
    try:
        client = svc.redis
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(svc.redis_key(queue))
            for step in PRIORITY_STEPS:
                pipe.llen(svc.redis_key(f"{queue}{PRIORITY_SEPARATOR}{step}"))
        pipe.hlen(svc.redis_key("unacked"))
        answers = pipe.execute()
    except redis.RedisError as exc:
        return {"broker_up": False, "error": f"{type(exc).__name__}: {exc}", "queues": [], "unacked": None}
    per_queue = len(PRIORITY_STEPS) + 1
    queues = [{"name": q, "depth": sum(answers[i * per_queue : (i + 1) * per_queue])} for i, q in enumerate(QUEUES)]
    return {"broker_up": True, "queues": queues, "unacked": answers[-1]}


def oldest_waiting_page(session: Session, now: datetime) -> dict | None:
    # ix_pages_status_created: the first entry of the 'queued' range.
    row = session.execute(
        select(Page.job_id, Page.page_number, Page.created_at)
        .where(Page.status == PageStatus.QUEUED)
        .order_by(Page.created_at)
        .limit(1)
    ).first()
    if row is None:
        return None
    created = aware(row.created_at)
    return {
        "job_id": row.job_id,
        "page_number": row.page_number,
        "created_at": timestamp(created),
        "age_seconds": round(max(0.0, (now - created).total_seconds()), 1),
    }


def workers(session: Session, now: datetime) -> list[dict]:
    """Worker processes heard from in the last ten minutes; one silent for three of its beats is offline."""
    rows = session.execute(
        select(WorkerHeartbeat, Page.job_id, Page.page_number)
        .outerjoin(Page, Page.id == WorkerHeartbeat.current_page_id)
        .where(WorkerHeartbeat.last_seen >= now - timedelta(minutes=10))
        .order_by(WorkerHeartbeat.hostname, WorkerHeartbeat.pid)
    ).all()
    out = []
    for hb, job_id, page_number in rows:
        last_seen = aware(hb.last_seen)
        offline_after = timedelta(seconds=max(1, hb.beat_interval or 10) * OFFLINE_AFTER_BEATS)
        out.append(
            {
                "hostname": hb.hostname,
                "pid": hb.pid,
                "device": hb.device,
                "queues": hb.queues,
                "online": now - last_seen <= offline_after,
                "current_page": (
                    {"job_id": job_id, "page_number": page_number, "since": timestamp(aware(hb.current_since))}
                    if hb.current_page_id is not None and job_id is not None
                    else None
                ),
                "pages_done": hb.pages_done,
                "started_at": timestamp(aware(hb.started_at)),
                "last_seen": timestamp(last_seen),
                "seconds_since_seen": round((now - last_seen).total_seconds(), 1),
            }
        )
    return out


def overview(svc: Services) -> dict:
    now = now_utc()
    with svc.db.session() as s:
        # GROUP BY over ix_jobs_status_created / ix_pages_status_created (index-only scans).
        jobs = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        pages = dict(
            s.execute(select(Page.status, func.count()).where(Page.status.in_(PageStatus.OPEN)).group_by(Page.status)).all()
        )
        oldest = oldest_waiting_page(s, now)
        worker_list = workers(s, now)
    return {
        "now": timestamp(now),
        "broker": queue_depths(svc),
        "oldest_waiting_page": oldest,
        "jobs_by_status": {status: jobs.get(status, 0) for status in JobStatus.ALL},
        "jobs_total": sum(jobs.values()),
        "pages_open": {status: pages.get(status, 0) for status in PageStatus.OPEN},
        "workers": worker_list,
        "workers_online": sum(1 for w in worker_list if w["online"]),
    }


# --- throughput --------------------------------------------------------------------------------


def minute_bucket(session: Session, column):
    """An SQL expression naming the minute of ``column`` as text 'YYYY-MM-DDTHH:MM' (UTC)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), literal_column("'YYYY-MM-DD\"T\"HH24:MI'"))
    return func.strftime("%Y-%m-%dT%H:%M", column)


def _per_minute(session: Session, stmt: Select) -> dict[tuple[str, str], int]:
    return {(minute, status): n for minute, status, n in session.execute(stmt).all()}


def throughput(svc: Services, minutes: int = 60) -> dict:
    """Pages and jobs finished per minute over the last ``minutes``, and the share of pages that failed."""
    now = now_utc()
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    with svc.db.session() as s:
        page_minute = minute_bucket(s, Page.finished_at)
        pages = _per_minute(
            s,
            select(page_minute, Page.status, func.count())
            .where(Page.status.in_((PageStatus.DONE, PageStatus.FAILED)), Page.finished_at >= start)  # ix_pages_status_finished
            .group_by(page_minute, Page.status),
        )
        job_minute = minute_bucket(s, Job.finished_at)
        jobs = _per_minute(
            s,
            select(job_minute, Job.status, func.count())
            .where(Job.status.in_(JobStatus.FINAL), Job.finished_at >= start)  # ix_jobs_status_finished
            .group_by(job_minute, Job.status),
        )
    buckets = []
    for i in range(minutes):
        t = start + timedelta(minutes=i)
        key = t.strftime("%Y-%m-%dT%H:%M")
        done, failed = pages.get((key, PageStatus.DONE), 0), pages.get((key, PageStatus.FAILED), 0)
        jobs_ended = sum(n for (minute, _status), n in jobs.items() if minute == key)
        jobs_failed = jobs.get((key, JobStatus.FAILED), 0)
        buckets.append(
            {
                "minute": timestamp(t),
                "t": int(t.timestamp()),
                "pages_done": done,
                "pages_failed": failed,
                "jobs_finished": jobs_ended,
                "jobs_failed": jobs_failed,
                "failure_ratio": round(failed / (done + failed), 4) if done + failed else None,
            }
        )
    pages_done = sum(b["pages_done"] for b in buckets)
    pages_failed = sum(b["pages_failed"] for b in buckets)
    jobs_finished = sum(b["jobs_finished"] for b in buckets)
    return {
        "minutes": minutes,
        "buckets": buckets,
        "totals": {
            "pages_done": pages_done,
            "pages_failed": pages_failed,
            "jobs_finished": jobs_finished,
            "pages_per_minute": round((pages_done + pages_failed) / minutes, 2),
            "jobs_per_minute": round(jobs_finished / minutes, 2),
            "failure_ratio": round(pages_failed / (pages_done + pages_failed), 4) if pages_done + pages_failed else None,
        },
    }


# --- stage times -----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), on an already sorted list."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Spread:
    n: int
    p50: float | None
    p95: float | None

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        values = sorted(values)
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        return cls(len(values), None if p50 is None else round(p50, 4), None if p95 is None else round(p95, 4))

    def as_dict(self) -> dict:
        return {"n": self.n, "p50": self.p50, "p95": self.p95}


def stage_times(svc: Services, minutes: int = 60) -> dict:
    """p50/p95 seconds per pipeline stage (pages) and from submission to the end (jobs) over the last ``minutes``."""
    since = now_utc() - timedelta(minutes=minutes)
    with svc.db.session() as s:
        timings = s.scalars(
            select(Page.timings)
            .where(Page.status == PageStatus.DONE, Page.finished_at >= since)  # ix_pages_status_finished, newest first
            .order_by(Page.finished_at.desc())
            .limit(SAMPLE_LIMIT)
        ).all()
        job_times = s.execute(
            select(Job.created_at, Job.started_at, Job.finished_at)
            .where(Job.status.in_((JobStatus.SUCCEEDED, JobStatus.PARTIAL_SUCCESS)), Job.finished_at >= since)
            .order_by(Job.finished_at.desc())
            .limit(SAMPLE_LIMIT)
        ).all()
    stages = {}
    for stage in STAGES:
        values = [float(t[stage]) for t in timings if t and isinstance(t.get(stage), int | float)]
        stages[stage] = Spread.of(values).as_dict()
    end_to_end = [(aware(f) - aware(c)).total_seconds() for c, _s, f in job_times]
    waiting = [(aware(st) - aware(c)).total_seconds() for c, st, _f in job_times if st is not None]
    return {
        "minutes": minutes,
        "stages": stages,
        "job_end_to_end": Spread.of(end_to_end).as_dict(),
        "job_wait_before_start": Spread.of(waiting).as_dict(),
    }


# --- jobs --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobFilter:
    statuses: tuple[str, ...] = ()
    tag: str | None = None
    key_id: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    job_id_prefix: str | None = None

    def apply(self, query: Select) -> Select:
        if self.statuses:
            query = query.where(Job.status.in_(self.statuses))
        if self.tag:
            query = query.where(Job.job_tag == self.tag)
        if self.key_id is not None:
            query = query.where(Job.api_key_id == self.key_id)
        if self.created_after:
            query = query.where(Job.created_at >= self.created_after)
        if self.created_before:
            query = query.where(Job.created_at < self.created_before)
        if self.job_id_prefix:
            query = query.where(Job.id.startswith(self.job_id_prefix, autoescape=True))
        return query


COUNT_CAP = 100_000  # counting matches beyond this is slow and tells an operator nothing more


def list_jobs(svc: Services, flt: JobFilter, page: int, per_page: int) -> dict:
    """One page of jobs, newest first, with their key's name; ``total`` is capped at COUNT_CAP."""
    with svc.db.session() as s:
        base = flt.apply(select(Job.id))
        total = s.scalar(select(func.count()).select_from(base.limit(COUNT_CAP + 1).subquery()))
        rows = s.execute(
            flt.apply(select(Job, ApiKey.name, ApiKey.prefix).join(ApiKey, ApiKey.id == Job.api_key_id))
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        names = filenames(s, [job for job, _name, _prefix in rows])  # one query: job_files by the indexed job_id
    jobs = []
    for job, key_name, key_prefix in rows:
        jobs.append(
            {
                "job_id": job.id,
                "status": job.status,
                "filenames": names[job.id],
                "job_tag": job.job_tag,
                "lang": job.lang,
                "key": {"id": job.api_key_id, "name": key_name, "prefix": key_prefix},
                "pages_total": job.pages_total,
                "pages_done": job.pages_done,
                "pages_failed": job.pages_failed,
                "pages_cancelled": job.pages_cancelled,
                "created_at": timestamp(aware(job.created_at)),
                "finished_at": timestamp(aware(job.finished_at)),
                "seconds": (
                    round((aware(job.finished_at) - aware(job.created_at)).total_seconds(), 2) if job.finished_at else None
                ),
                "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
            }
        )
    return {
        "jobs": jobs,
        "page": page,
        "per_page": per_page,
        "total": min(total, COUNT_CAP),
        "total_capped": total > COUNT_CAP,
    }


def job_detail(svc: Services, job_id: str) -> dict | None:
    """Everything about one job an operator needs: files, pages with status, attempts, worker, timings, errors."""
    from api.representations import job_detail as client_view

    with svc.db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            return None
        key = s.get(ApiKey, job.api_key_id)
        files = list(s.scalars(select(JobFile).where(JobFile.job_id == job_id).order_by(JobFile.position)))
        pages = list(s.scalars(select(Page).where(Page.job_id == job_id).order_by(Page.page_number)))
    view = client_view(job, files, pages)
    view["key"] = {"id": key.id, "name": key.name, "prefix": key.prefix} if key else None
    by_number = {p.page_number: p for p in pages}
    for page_view in view["pages"]:
        page = by_number[page_view["page_number"]]
        page_view["worker"] = page.worker
        page_view["has_image"] = bool(page.image_key)
        page_view["lines"] = len((page.result or {}).get("lines", [])) if page.result else None
    view["seconds"] = round((aware(job.finished_at) - aware(job.created_at)).total_seconds(), 3) if job.finished_at else None
    return view
