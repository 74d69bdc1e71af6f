"""The storage interface and the key layout shared by API and workers."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

from core.errors import InvalidOption

_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def check_key(key: str) -> str:
    """Keys come from our own code, but a path that climbs out of the root must never pass."""
    if not _SAFE_KEY.match(key) or ".." in key.split("/") or "//" in key:
        raise InvalidOption(f"Bad storage key {key!r}")
    return key


def input_key(sha256: str) -> str:
    return f"inputs/{sha256[:2]}/{sha256}"


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def page_image_key(job_id: str, page_number: int) -> str:
    return f"jobs/{job_id}/pages/{page_number:05d}.png"


def output_key(job_id: str, ext: str) -> str:
    return f"jobs/{job_id}/result.{ext}"


class Storage(ABC):
    """Blobs by key. Missing keys raise core.errors.NotFound; unreachable backends StorageUnavailable."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one blob; a missing one is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every blob whose key starts with ``prefix``; returns how many."""

    @abstractmethod
    def check(self) -> None:
        """Raise StorageUnavailable unless the backend can be used now (readiness)."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Content-addressed writes: the bytes under a key never change, so skip existing ones."""
        if self.exists(key):
            return False
        self.put(key, data)
        return True
