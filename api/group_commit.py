"""Group commit: work that request threads hand over, done together by one thread per process.

A request thread calls ``GroupCommit(item)`` and waits. One thread takes whatever items have
queued up meanwhile (up to ``max_batch``) and runs them in one go (api/submission.py: one
transaction and one commit, then one Redis push, for every submit that arrived while the previous
batch was being committed), then hands each thread its own outcome. Nothing waits on purpose: a
lone request is a batch of one, done at once; under load the batches grow by themselves.

The thread is started on first use in the process that uses it, so an app built before a fork
(gunicorn --preload) gets its own thread in each worker process.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class _Waiting(Generic[T]):
    __slots__ = ("item", "done", "outcome", "failed")

    def __init__(self, item: T):
        self.item = item
        self.done = threading.Event()
        self.outcome = None
        self.failed = False


class GroupCommit(Generic[T, R]):
    def __init__(self, run_batch: Callable[[Sequence[T]], Sequence[R | BaseException]], max_batch: int, name: str):
        """``run_batch(items)`` returns one outcome per item, in order: a result, or an exception to
        raise in that item's thread. An exception it raises itself goes to every item of the batch."""
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.name = name
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Waiting[T]] = queue.SimpleQueue()
        self._pid: int | None = None

    def __call__(self, item: T) -> R:
        waiting = _Waiting(item)
        self._ensure_thread()
        self._queue.put(waiting)
        waiting.done.wait()
        if waiting.failed:
            raise waiting.outcome
        return waiting.outcome

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()  # a forked child starts with none of its parent's waiters
                threading.Thread(target=self._loop, args=(self._queue,), name=self.name, daemon=True).start()
                self._pid = os.getpid()

    def _loop(self, waiting_room: queue.SimpleQueue[_Waiting[T]]) -> None:
        while True:
            batch = [waiting_room.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(waiting_room.get_nowait())
                except queue.Empty:
                    break
            self._run(batch)

    def _run(self, batch: list[_Waiting[T]]) -> None:
        try:
            outcomes = list(self.run_batch([w.item for w in batch]))
            if len(outcomes) != len(batch):
                raise AssertionError(f"{self.name}: {len(outcomes)} outcomes for {len(batch)} items")
        except BaseException as exc:  # noqa: BLE001 -- handed to the waiting threads, which raise it
            outcomes = [exc] * len(batch)
        for waiting, outcome in zip(batch, outcomes, strict=True):
            waiting.failed = isinstance(outcome, BaseException)
            waiting.outcome = outcome
            waiting.done.set()
