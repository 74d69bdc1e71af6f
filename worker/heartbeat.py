"""Worker heartbeats for the operations dashboard, written from Celery signals and a timer thread.

Each process that runs tasks (a prefork child, or the worker itself with the
solo/threads pool) keeps one row in ``worker_heartbeats``: its device, the page
it is reading and when it was last heard from. Signal handlers only change
this process's state and wake the thread; the thread does the writing, so a
slow or absent database delays no page and fails no task.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass

from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init, worker_process_shutdown, worker_shutdown

from core.settings import get_settings
from db.models import utcnow
from worker.queueing import RUN_PAGE

log = logging.getLogger(__name__)


@dataclass
class _State:
    hostname: str
    queues: str
    current_page_id: int | None = None
    current_since: object = None
    pages_done: int = 0


class Heartbeat:
    """This process's heartbeat: a daemon thread that writes the row every ``interval`` seconds or when woken."""

    def __init__(self, hostname: str, queues: str = "", interval: float | None = None):
        self.state = _State(hostname=hostname, queues=queues[:200])
        self.interval = interval or get_settings().heartbeat_interval
        self.pid = os.getpid()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ocr-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def page_started(self, page_id: int) -> None:
        with self._lock:
            self.state.current_page_id, self.state.current_since = page_id, utcnow()
        self._wake.set()

    def page_finished(self) -> None:
        with self._lock:
            self.state.current_page_id = self.state.current_since = None
            self.state.pages_done += 1
        self._wake.set()

    def _run(self) -> None:
        beats = 0
        while not self._stop.is_set():
            try:
                self._write(prune=beats % 30 == 0)
            except Exception as exc:  # the database may be down for a while; the next beat tries again
                log.warning("Heartbeat not recorded: %s", exc)
            beats += 1
            self._wake.wait(self.interval)
            self._wake.clear()
        self._remove()

    def _write(self, prune: bool) -> None:
        from db.session import get_database
        from db.workers import beat, forget_silent

        with self._lock:
            s = self.state
            fields = {
                "device": device_label(),
                "queues": s.queues or None,
                "current_page_id": s.current_page_id,
                "current_since": s.current_since,
                "pages_done": s.pages_done,
                "beat_interval": max(1, round(self.interval)),
            }
        with get_database(get_settings().database_url).session() as session:
            beat(session, s.hostname, self.pid, **fields)
            if prune:
                forget_silent(session)

    def _remove(self) -> None:
        from db.session import get_database
        from db.workers import forget

        try:
            with get_database(get_settings().database_url).session() as session:
                forget(session, self.state.hostname, self.pid)
        except Exception as exc:
            log.info("Heartbeat row not removed: %s", exc)


def device_label() -> str:
    """Where this process runs the networks, without importing torch before the pipeline does."""
    requested = get_settings().device.strip().lower()
    if requested != "auto" and not requested.startswith("cuda"):
        return requested
    from pipeline.runtime import resolve_runtime

    try:
        if resolve_runtime() == "onnx":
            return "cpu (onnx)"  # ONNX Runtime runs on the CPU only; torch is never loaded here
    except Exception as exc:  # a bad OCR_RUNTIME is reported by the pipeline when it loads; say it here too
        return f"{requested} ({exc})"[:100]
    torch = sys.modules.get("torch")
    if torch is None:
        return requested if requested != "auto" else "auto (models not loaded yet)"
    if not torch.cuda.is_available():
        return "cpu"
    index = int(requested.partition(":")[2] or 0) if requested.startswith("cuda") else 0
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"[:100]


# --- wiring to Celery signals --------------------------------------------------------------

_current: Heartbeat | None = None


def current() -> Heartbeat | None:
    return _current


def _start(hostname: str) -> Heartbeat:
    global _current
    if _current is None or _current.pid != os.getpid():  # a forked child must not reuse its parent's thread
        _current = Heartbeat(hostname or "unknown", _consumed_queues()).start()
    return _current


def _consumed_queues() -> str:
    try:
        from worker.celery_app import app

        return ",".join(sorted(app.amqp.queues.consume_from or app.amqp.queues))
    except Exception:  # only a label on the dashboard
        return ""


@worker_init.connect
def _on_worker_init(sender=None, **_kwargs):
    """The node (re)starts: rows its earlier processes left behind (kill -9) are stale now."""
    hostname = getattr(sender, "hostname", None)
    if not hostname:
        return
    from db.session import get_database
    from db.workers import forget

    try:
        with get_database(get_settings().database_url).session() as session:
            forget(session, hostname)
    except Exception as exc:
        log.warning("Could not clear old heartbeats of %s: %s", hostname, exc)


@worker_process_init.connect
def _on_process_init(sender=None, **_kwargs):
    _start(sender if isinstance(sender, str) else "")


@task_prerun.connect
def _on_task_prerun(task=None, args=None, **_kwargs):
    hb = _start(getattr(task.request, "hostname", "") or "")  # threads pool: no process_init signal
    if task.name == RUN_PAGE and args:
        hb.page_started(int(args[0]))


@task_postrun.connect
def _on_task_postrun(task=None, **_kwargs):
    if _current is not None and _current.pid == os.getpid() and task.name == RUN_PAGE:
        _current.page_finished()


@worker_process_shutdown.connect
def _on_process_shutdown(sender=None, **_kwargs):
    # Sent in the exiting child itself (billiard's Worker._do_exit).
    if _current is not None and _current.pid == os.getpid():
        _current.stop()
        _current.join(timeout=5)


@worker_shutdown.connect
def _on_worker_shutdown(sender=None, **_kwargs):
    if _current is not None and _current.pid == os.getpid():
        _current.stop()
        _current.join(timeout=5)
    hostname = getattr(sender, "hostname", None)
    if not hostname:
        return
    from db.session import get_database
    from db.workers import forget

    try:
        with get_database(get_settings().database_url).session() as session:
            forget(session, hostname)
    except Exception as exc:
        log.info("Heartbeats of %s not removed: %s", hostname, exc)
