"""API keys a process has looked up recently, so a busy client's requests skip the database (api/auth.py)."""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyCache(Generic[T]):
    """Callers (api.auth.Caller) by the sha256 of their key, each for ``ttl`` seconds after it was read."""

    MAX_ENTRIES = 10_000  # past this the cache starts over: a bound, not a policy

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> T | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key_hash: str, value: T) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key_hash] = (time.monotonic() + self.ttl, value)

    def forget(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)
