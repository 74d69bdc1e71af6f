"""The Celery tasks: thin wrappers that run worker.* functions and decide what to send next.

Only ids travel in messages. Retries are bounded and only for retryable
errors (core.errors ``retryable``, database outages); the page attempt
counter in the database bounds run_page across worker deaths as well.
"""

from __future__ import annotations

import logging
import socket

from worker import finishing, page_runner, splitting, webhooks
from worker.celery_app import app
from worker.context import Context, get_context
from worker.failures import error_record, is_retryable
from worker.queueing import FINISH_JOB, RUN_PAGE, SEND_WEBHOOK, SPLIT_JOB, enqueue, enqueue_pages

log = logging.getLogger(__name__)

TRANSIENT_RETRIES = 5


def _retry_if_transient(task, exc: BaseException) -> None:
    if is_retryable(exc) and task.request.retries < TRANSIENT_RETRIES:
        countdown = min(60, 2 ** (task.request.retries + 1))
        log.warning("%s: %s; retrying in %ss", task.name, exc, countdown)
        raise task.retry(exc=exc, countdown=countdown, max_retries=TRANSIENT_RETRIES)


def _job_ended(ctx: Context, job_id: str) -> None:
    from db.models import Job

    with ctx.db.session() as s:
        job = s.get(Job, job_id)
        wants_callback = job is not None and bool(job.callback_url)
        if wants_callback:
            job.webhook_status = "pending"
    if wants_callback:
        enqueue(ctx.celery, SEND_WEBHOOK, job_id)


@app.task(name=SPLIT_JOB, bind=True)
def split_job(self, job_id: str) -> None:
    ctx = get_context()
    try:
        outcome = splitting.split_job(ctx, job_id)
    except Exception as exc:
        _retry_if_transient(self, exc)
        if splitting.abandon_job(ctx, job_id, error_record(exc, context=f"splitting job {job_id}")):
            _job_ended(ctx, job_id)
        return
    if outcome.page_ids:
        enqueue_pages(ctx.celery, outcome.page_ids)
    if outcome.ended:
        _job_ended(ctx, job_id)


# acks_on_timeout=False: a page that hits the hard time limit goes back to the queue like a page whose
# worker died, and its attempt counter decides when to stop trying.
@app.task(name=RUN_PAGE, bind=True, acks_on_timeout=False)
def run_page(self, page_id: int) -> None:
    ctx = get_context()
    try:
        outcome = page_runner.run_page(ctx, page_id, self.request.hostname or socket.gethostname())
    except Exception as exc:
        _retry_if_transient(self, exc)
        outcome = page_runner.give_up(ctx, page_id, error_record(exc, context=f"page {page_id}"))
    if outcome.retry_in is not None:
        raise self.retry(exc=outcome.retry_error, countdown=outcome.retry_in, max_retries=None)
    if outcome.finish:
        enqueue(ctx.celery, FINISH_JOB, outcome.job_id)


def _finish_limits() -> tuple[int, int]:
    from core.settings import get_settings

    settings = get_settings()
    # Assembling a searchable PDF of hundreds of pages takes far longer than reading one page.
    return settings.page_soft_time_limit * 10, settings.page_hard_time_limit * 10


@app.task(name=FINISH_JOB, bind=True, soft_time_limit=_finish_limits()[0], time_limit=_finish_limits()[1])
def finish_job(self, job_id: str) -> None:
    ctx = get_context()
    try:
        ended = finishing.finish_job(ctx, job_id)
    except Exception as exc:
        _retry_if_transient(self, exc)
        ended = splitting.abandon_job(ctx, job_id, error_record(exc, context=f"finishing job {job_id}"))
    if ended:
        _job_ended(ctx, job_id)


@app.task(name=SEND_WEBHOOK, bind=True)
def send_webhook(self, job_id: str) -> None:
    ctx = get_context()
    limit = ctx.settings.webhook_max_retries
    outcome = webhooks.deliver(ctx, job_id, final_attempt=self.request.retries >= limit)
    if outcome.status == "retry":
        countdown = ctx.settings.webhook_backoff * 2**self.request.retries
        log.info("Webhook for job %s: %s; retry %s in %ss", job_id, outcome.detail, self.request.retries + 1, countdown)
        raise self.retry(countdown=countdown, max_retries=limit)
    if outcome.status == "failed":
        log.warning("Webhook for job %s failed for good: %s", job_id, outcome.detail)


__all__ = ["finish_job", "run_page", "send_webhook", "split_job", "RUN_PAGE"]
