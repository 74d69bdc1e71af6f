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
import time

from celery import Celery
from celery.signals import (
    celeryd_after_setup,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
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
    """OCR_TORCH_THREADS, or the cores shared out among the pool's processes: the threads of
    either runtime, torch or ONNX Runtime.

    Each pool process runs its own networks; letting every one of them use all cores
    oversubscribes the CPU, and spinning threads then make each page several times slower.
    """
    return settings.torch_threads or max(1, (os.cpu_count() or 1) // pool_size)


# A pool process that has not said it is up this long after its fork is killed and forked again.
MIN_PROC_ALIVE_TIMEOUT = 30.0


@celeryd_after_setup.connect
def _import_runtime_before_the_fork(sender=None, instance=None, **_kwargs):
    """Import the networks' runtime (torch or onnxruntime, pipeline/runtime.py) once in the
    worker's main process, before the pool forks.

    A pool process that imported torch itself took 5-8 s on a busy machine, past
    Celery's 4 s worker_proc_alive_timeout: Celery killed every replacement of a dead
    pool process and the worker stopped reading pages. Forked after the import, a
    child starts in milliseconds. No network runs here (OpenMP's thread pool is not
    fork-safe once started, ONNX Runtime makes its threads per session, CUDA is set up
    by each child on first use). On the ONNX runtime torch is never imported. The
    import's duration measures how slow this machine is right now, and the alive
    timeout is set from it with room to spare.
    """
    from pipeline.runtime import resolve_runtime

    started = time.perf_counter()
    runtime = resolve_runtime()
    if runtime == "torch":
        import torch  # noqa: F401
    else:
        import onnxruntime  # noqa: F401

    import pipeline.pipeline  # noqa: F401  (the pipeline's own imports, also before the fork)

    took = time.perf_counter() - started
    alive = max(MIN_PROC_ALIVE_TIMEOUT, 4 * took)
    app.conf.worker_proc_alive_timeout = alive
    logging.getLogger(__name__).info(
        "%s imported before the fork in %.1f s; pool processes have %.0f s to start", runtime, took, alive
    )


@worker_process_init.connect
def _share_cores(**_kwargs):
    from pipeline.runtime import set_inference_threads

    threads = torch_threads_per_process(get_settings(), _pool_size)
    set_inference_threads(threads)  # torch's now (imported before the fork), ONNX sessions' when made
    logging.getLogger(__name__).info(
        "pool process %d: %d inference thread(s) for %d pool process(es)", os.getpid(), threads, _pool_size
    )


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs):
    # Connections and clients made in the parent before the fork must not be shared by children.
    from db.session import dispose_all
    from storage.factory import _cached

    dispose_all()
    _cached.cache_clear()


@worker_process_init.connect
def _start_reconciler_in_pool_process(**_kwargs):
    from worker.reconciler import start_loop

    start_loop()


@worker_ready.connect
def _start_reconciler_without_pool_processes(sender=None, **_kwargs):
    # The solo and threads pools run tasks in the main process and send no worker_process_init.
    pool = getattr(sender, "pool", None)
    if pool is not None and "prefork" not in type(pool).__module__:
        from worker.reconciler import start_loop

        start_loop()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _stop_reconciler(**_kwargs):
    from worker.reconciler import stop_loop

    stop_loop()


from worker import heartbeat  # noqa: E402, F401  (connects the dashboard's worker heartbeats to the signals above)
