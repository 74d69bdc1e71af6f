"""Sending task messages by name, so senders (the API) never import the task code or torch.

The API sends once and answers 503 when Redis is away. Workers pass ``patience``:
they have already committed the state the message is for, so they keep trying
(backoff with jitter) through a Redis restart; if Redis stays away longer, the
reconciler (worker/reconciler.py) sends the message once it finds it missing.
"""

from __future__ import annotations

import logging
import time

from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from core.backoff import backoff_delay
from core.errors import QueueUnavailable

log = logging.getLogger(__name__)

SPLIT_JOB = "worker.tasks.split_job"
RUN_PAGE = "worker.tasks.run_page"
FINISH_JOB = "worker.tasks.finish_job"
SEND_WEBHOOK = "worker.tasks.send_webhook"

_BROKER_ERRORS = (KombuOperationalError, RedisError, OSError)


def _patiently(send, what: str, patience: float) -> None:
    deadline = time.monotonic() + patience
    attempt = 0
    while True:
        try:
            send()
            return
        except _BROKER_ERRORS as exc:
            delay = backoff_delay(attempt, base=0.5, cap=10.0)
            if time.monotonic() + delay > deadline:
                raise QueueUnavailable(f"The job queue is not reachable: {exc}") from exc
            log.warning("Could not send %s (%s); trying again in %.1f s", what, exc, delay)
            time.sleep(delay)
            attempt += 1


def enqueue(celery: Celery, task: str, *args, countdown: float | None = None, patience: float = 0) -> None:
    _patiently(lambda: celery.send_task(task, args=list(args), countdown=countdown), f"{task}{tuple(args)}", patience)


def enqueue_pages(celery: Celery, page_ids: list[int], patience: float = 0) -> None:
    def send() -> None:
        # One producer connection for the whole batch: a 500-page PDF is 500 messages.
        with celery.producer_or_acquire() as producer:
            for page_id in page_ids:
                celery.send_task(RUN_PAGE, args=[page_id], producer=producer)

    _patiently(send, f"{len(page_ids)} page(s)", patience)
