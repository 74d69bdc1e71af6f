"""The Celery application: Redis broker, two queues, at-least-once delivery.

Start a worker with

    celery -A worker.celery_app worker -Q ocr.finish,ocr.jobs,ocr.pages --concurrency N --loglevel INFO

``ocr.jobs`` carries split_job, ``ocr.pages`` one run_page per page, and
``ocr.finish`` finish_job / send_webhook: finishing has its own queue so that a
job whose last page is done is not kept waiting behind a burst of other jobs'
split_job messages (the load test showed every job finishing at the end of the burst). Messages carry ids only; the database says what to do.

Delivery is at-least-once: a message is acknowledged after its task ran
(acks_late), given back when the worker process dies (reject on worker lost),
and restored by Redis after ``visibility_timeout`` when the whole worker
machine vanished. The tasks make repeats harmless (see db.transitions).
"""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import celeryd_after_setup, worker_process_init
from kombu import Exchange, Queue

from core.settings import Settings, get_settings

JOBS_QUEUE = "ocr.jobs"
PAGES_QUEUE = "ocr.pages"
FINISH_QUEUE = "ocr.finish"
QUEUES = (PAGES_QUEUE, JOBS_QUEUE, FINISH_QUEUE)

TASK_ROUTES = {
    "worker.tasks.split_job": {"queue": JOBS_QUEUE},
    "worker.tasks.finish_job": {"queue": FINISH_QUEUE},
    "worker.tasks.send_webhook": {"queue": FINISH_QUEUE},
    "worker.tasks.run_page": {"queue": PAGES_QUEUE},
}


def transport_options(settings: Settings) -> dict:
    options = {
        # A message unacked this long is handed to another worker: keep it above the hard time limit,
        # or a slow page would run twice while still running.
        "visibility_timeout": max(settings.broker_visibility_timeout, settings.page_hard_time_limit + 5),
        # Look for abandoned messages every few seconds instead of kombu's ~100 s default.
        "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout // 6)),
        "unacked_restore_throttle": 1,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
    }
    if settings.broker_key_prefix:
        options["global_keyprefix"] = settings.broker_key_prefix
    return options


def make_celery(settings: Settings) -> Celery:
    app = Celery("ocr", broker=settings.broker_url, include=["worker.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        # Each queue its own exchange and key: with a shared default exchange every message
        # would be copied into both queues.
        task_default_queue=JOBS_QUEUE,
        task_default_exchange=JOBS_QUEUE,
        task_default_routing_key=JOBS_QUEUE,
        task_queues=tuple(Queue(q, Exchange(q, type="direct"), routing_key=q) for q in QUEUES),
        task_routes=TASK_ROUTES,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.page_soft_time_limit,
        task_time_limit=settings.page_hard_time_limit,
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=True,
        worker_send_task_events=False,
        timezone="UTC",
    )
    return app


app = make_celery(get_settings())


_pool_size = 1  # set in the parent before the pool forks; children inherit it


@celeryd_after_setup.connect
def _remember_pool_size(sender=None, instance=None, **_kwargs):
    global _pool_size
    _pool_size = max(1, int(getattr(instance, "concurrency", 1) or 1))


def torch_threads_per_process(settings: Settings, pool_size: int) -> int:
    """OCR_TORCH_THREADS, or the cores shared out among the pool's processes.

    Each pool process runs its own torch; letting every one of them use all cores
    oversubscribes the CPU, and spinning threads then make each page several times slower.
    """
    return settings.torch_threads or max(1, (os.cpu_count() or 1) // pool_size)


@worker_process_init.connect
def _share_cores(**_kwargs):
    import torch  # the pool processes run the pipeline; the parent never needs torch

    threads = torch_threads_per_process(get_settings(), _pool_size)
    torch.set_num_threads(threads)
    logging.getLogger(__name__).info(
        "pool process %d: %d torch thread(s) for %d pool process(es)", os.getpid(), threads, _pool_size
    )


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs):
    # Connections and clients made in the parent before the fork must not be shared by children.
    from db.session import dispose_all
    from storage.factory import _cached

    dispose_all()
    _cached.cache_clear()


from worker import heartbeat  # noqa: E402, F401  (connects the dashboard's worker heartbeats to the signals above)
