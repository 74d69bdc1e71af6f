"""Uploaded documents by sha256, with a small per-process cache.

A worker reads one PDF once per page; the cache keeps the last few inputs so a
500-page PDF is fetched from storage a handful of times, not 500.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from storage import Storage, input_key

_MAX_BYTES = 256 * 1024 * 1024
_lock = threading.Lock()
_cache: OrderedDict[str, bytes] = OrderedDict()


def read_input(storage: Storage, sha256: str) -> bytes:
    with _lock:
        data = _cache.get(sha256)
        if data is not None:
            _cache.move_to_end(sha256)
            return data
    data = storage.get(input_key(sha256))
    if len(data) <= _MAX_BYTES // 2:
        with _lock:
            _cache[sha256] = data
            while sum(len(v) for v in _cache.values()) > _MAX_BYTES:
                _cache.popitem(last=False)
    return data
