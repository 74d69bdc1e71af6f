"""Pick the storage backend that settings.storage_url names."""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import unquote, urlsplit

from core.errors import InvalidOption
from core.settings import Settings
from storage.base import Storage


def open_storage(storage_url: str, s3_endpoint_url: str = "") -> Storage:
    parts = urlsplit(storage_url)
    if parts.scheme == "file":
        from storage.local import LocalStorage

        return LocalStorage(Path(unquote(parts.netloc + parts.path)))
    if parts.scheme == "s3":
        from storage.s3 import S3Storage

        if not parts.netloc:
            raise InvalidOption(f"Storage URL {storage_url!r} names no bucket (s3://bucket/prefix).")
        return S3Storage(parts.netloc, parts.path, endpoint_url=s3_endpoint_url or None)
    raise InvalidOption(f"Storage URL {storage_url!r} must start with file:// or s3://")


@functools.cache
def _cached(storage_url: str, s3_endpoint_url: str) -> Storage:
    return open_storage(storage_url, s3_endpoint_url)


def get_storage(settings: Settings) -> Storage:
    """One backend object per URL per process (boto3 clients are thread-safe and costly to make)."""
    return _cached(settings.storage_url, settings.s3_endpoint_url)
