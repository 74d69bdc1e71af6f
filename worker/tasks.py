"""The Celery tasks: thin wrappers that run worker.* functions and decide what to send next.

Only ids travel in messages. Retries are only for retryable errors (core.errors
``retryable``, database outages): backoff with jitter, for minutes. A task that
still cannot reach the database records nothing and gives up without failing
the job: the state it left (a queued job, an open page, a finished job without
its webhook) is what the reconciler (worker/reconciler.py) looks for, and it
sends the message again. The page attempt counter in the database bounds
run_page across worker deaths as well.
"""

from __future__ import annotations

import logging
import socket

from core.backoff import backoff_delay
from core.errors import QueueUnavailable
from worker import finishing, page_runner, splitting, webhooks
from worker.celery_app import app
from worker.context import Context, get_context
from worker.failures import error_record, is_retryable
from worker.queueing import FINISH_JOB, RUN_PAGE, SEND_WEBHOOK, SPLIT_JOB, enqueue, enqueue_pages

log = logging.getLogger(__name__)


class _LeftForReconciler(Exception):
    """A retryable failure outlasted every retry; the recorded state stays as it is for the reconciler."""


def _retry_if_transient(task, ctx: Context, exc: BaseException) -> None:
    """Retry a retryable failure with backoff; after the last retry raise _LeftForReconciler. Other errors return."""
    if not is_retryable(exc):
        return
    settings = ctx.settings
    if task.request.retries >= settings.transient_retries:
        raise _LeftForReconciler(str(exc)) from exc
    cap = min(settings.transient_backoff_max, _countdown_cap(ctx))
    countdown = round(backoff_delay(task.request.retries, base=2.0, cap=cap), 1)
    log.warning("%s: %s; retry %d in %ss", task.name, exc, task.request.retries + 1, countdown)
    raise task.retry(exc=exc, countdown=countdown, max_retries=settings.transient_retries)


def _countdown_cap(ctx: Context) -> int:
    # A countdown longer than the visibility timeout would have Redis hand the held message to a
    # second worker while the first still waits on it: each copy would then retry on its own.
    return max(2, ctx.settings.broker_visibility_timeout // 2)


def _send(ctx: Context, what: str, send) -> None:
    """Send a message for state already committed; when Redis stays away the reconciler sends it later."""
    try:
        send()
    except QueueUnavailable as exc:
        log.error("%s not sent (%s); the reconciler will send it", what, exc)


def _job_ended(ctx: Context, job_id: str) -> None:
    from db.models import Job

    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        wants_callback = job is not None and bool(job.callback_url)
        if wants_callback:
            job.webhook_status = "pending"
    if wants_callback:
        patience = ctx.settings.enqueue_patience
        _send(ctx, f"Webhook of job {job_id}", lambda: enqueue(ctx.celery, SEND_WEBHOOK, job_id, patience=patience))


def _guarded(task, job_or_page: str, body) -> None:
    try:
        body()
    except _LeftForReconciler as exc:
        log.error("%s %s: still failing after %d retries (%s); left for the reconciler",
                  task.name, job_or_page, task.request.retries, exc)  # fmt: skip


@app.task(name=SPLIT_JOB, bind=True)
def split_job(self, job_id: str) -> None:
    _guarded(self, job_id, lambda: _split_job(self, job_id))


def _split_job(task, job_id: str) -> None:
    ctx = get_context()
    try:
        outcome = splitting.split_job(ctx, job_id)
    except Exception as exc:
        _retry_if_transient(task, ctx, exc)
        if splitting.abandon_job(ctx, job_id, error_record(exc, context=f"splitting job {job_id}")):
            _job_ended(ctx, job_id)
        return
    if outcome.page_ids:
        patience = ctx.settings.enqueue_patience
        _send(ctx, f"Pages of job {job_id}", lambda: enqueue_pages(ctx.celery, outcome.page_ids, patience=patience))
    if outcome.ended:
        _job_ended(ctx, job_id)


# acks_on_timeout=False: a page that hits the hard time limit goes back to the queue like a page whose
# worker died, and its attempt counter decides when to stop trying.
@app.task(name=RUN_PAGE, bind=True, acks_on_timeout=False)
def run_page(self, page_id: int) -> None:
    _guarded(self, f"page {page_id}", lambda: _run_page(self, page_id))


def _run_page(task, page_id: int) -> None:
    ctx = get_context()
    try:
        outcome = page_runner.run_page(ctx, page_id, task.request.hostname or socket.gethostname())
    except Exception as exc:
        _retry_if_transient(task, ctx, exc)
        outcome = page_runner.give_up(ctx, page_id, error_record(exc, context=f"page {page_id}"))
    # This page's job, and the jobs that pages read in the same batch (worker/batching.py) completed.
    finished = dict.fromkeys(([outcome.job_id] if outcome.finish else []) + outcome.also_finish)
    patience = ctx.settings.enqueue_patience
    for job_id in finished:
        _send(ctx, f"Finish of job {job_id}", lambda j=job_id: enqueue(ctx.celery, FINISH_JOB, j, patience=patience))
    if outcome.retry_in is not None:
        raise task.retry(exc=outcome.retry_error, countdown=outcome.retry_in, max_retries=None)


def _finish_limits() -> tuple[int, int]:
    from core.settings import get_settings

    settings = get_settings()
    # Assembling a searchable PDF of hundreds of pages takes far longer than reading one page.
    return settings.page_soft_time_limit * 10, settings.page_hard_time_limit * 10


@app.task(name=FINISH_JOB, bind=True, soft_time_limit=_finish_limits()[0], time_limit=_finish_limits()[1])
def finish_job(self, job_id: str) -> None:
    _guarded(self, job_id, lambda: _finish_job(self, job_id))


def _finish_job(task, job_id: str) -> None:
    ctx = get_context()
    try:
        ended = finishing.finish_job(ctx, job_id)
    except Exception as exc:
        _retry_if_transient(task, ctx, exc)
        ended = splitting.abandon_job(ctx, job_id, error_record(exc, context=f"finishing job {job_id}"))
    if ended:
        _job_ended(ctx, job_id)


@app.task(name=SEND_WEBHOOK, bind=True)
def send_webhook(self, job_id: str) -> None:
    _guarded(self, job_id, lambda: _send_webhook(self, job_id))


def _send_webhook(task, job_id: str) -> None:
    ctx = get_context()
    limit = ctx.settings.webhook_max_retries
    try:
        due, attempts = _webhook_due(ctx, job_id)
    except Exception as exc:
        _retry_if_transient(task, ctx, exc)
        raise
    if not due:
        return  # delivered or given up already: a repeated message must not post twice
    # The count in the database, not this message's retries: a message the reconciler sent again
    # starts at retry 0, and must not give the receiver more attempts than the limit.
    try:
        outcome = webhooks.deliver(ctx, job_id, final_attempt=attempts >= limit)
    except Exception as exc:
        _retry_if_transient(task, ctx, exc)
        raise
    if outcome.status == "retry":
        countdown = round(backoff_delay(attempts, base=ctx.settings.webhook_backoff, cap=_countdown_cap(ctx)), 1)
        log.info("Webhook for job %s: %s; retry %s in %ss", job_id, outcome.detail, attempts + 1, countdown)
        raise task.retry(countdown=countdown, max_retries=None)
    if outcome.status == "failed":
        log.warning("Webhook for job %s failed for good: %s", job_id, outcome.detail)


def _webhook_due(ctx: Context, job_id: str) -> tuple[bool, int]:
    """(the job's callback still has to be delivered, attempts made so far)."""
    from db.models import Job

    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        if job is None or not job.callback_url or job.webhook_status in ("delivered", "failed"):
            return False, 0
        return True, job.webhook_attempts


__all__ = ["finish_job", "run_page", "send_webhook", "split_job", "RUN_PAGE"]
