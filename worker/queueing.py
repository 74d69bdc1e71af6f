"""Sending task messages by name, so senders (the API) never import the task code or torch."""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from core.errors import QueueUnavailable

log = logging.getLogger(__name__)

SPLIT_JOB = "worker.tasks.split_job"
RUN_PAGE = "worker.tasks.run_page"
FINISH_JOB = "worker.tasks.finish_job"
SEND_WEBHOOK = "worker.tasks.send_webhook"


def enqueue(celery: Celery, task: str, *args, countdown: float | None = None) -> None:
    try:
        celery.send_task(task, args=list(args), countdown=countdown)
    except (KombuOperationalError, RedisError, OSError) as exc:
        raise QueueUnavailable(f"The job queue is not reachable: {exc}") from exc


def enqueue_pages(celery: Celery, page_ids: list[int]) -> None:
    # One producer connection for the whole batch: a 500-page PDF is 500 messages.
    try:
        with celery.producer_or_acquire() as producer:
            for page_id in page_ids:
                celery.send_task(RUN_PAGE, args=[page_id], producer=producer)
    except (KombuOperationalError, RedisError, OSError) as exc:
        raise QueueUnavailable(f"The job queue is not reachable: {exc}") from exc
