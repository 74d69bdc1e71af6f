"""What request handlers share, built once per app: settings, database, storage, broker."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import redis
from celery import Celery
from flask import current_app

from api.key_cache import KeyCache
from core.settings import Settings
from db.session import Database, get_database
from storage import Storage, open_storage
from worker.celery_app import make_celery


@dataclass
class Services:
    settings: Settings
    db: Database
    storage: Storage
    celery: Celery
    # Synchronous requests (/api/ocr, POST /v1/index) hold a thread while their job runs; this bounds how
    # many may, so the rest of the threads stay free for everything else (/healthz above all).
    sync_slots: threading.BoundedSemaphore = field(init=False)
    key_cache: KeyCache = field(init=False)  # API keys recently looked up (api/auth.py)

    def __post_init__(self) -> None:
        self.sync_slots = threading.BoundedSemaphore(max(1, self.settings.max_sync_waits))
        self.key_cache = KeyCache(self.settings.key_cache_seconds)

    @functools.cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.broker_url, socket_timeout=3, socket_connect_timeout=3)

    def redis_key(self, key: str) -> str:
        """Our own Redis keys share the broker's prefix, so test runs and deployments stay apart."""
        return self.settings.broker_key_prefix + key

    @classmethod
    def build(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            db=get_database(settings.database_url),
            storage=open_storage(settings.storage_url, settings.s3_endpoint_url),
            celery=make_celery(settings),
        )


def services() -> Services:
    return current_app.extensions["ocr"]
