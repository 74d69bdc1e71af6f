"""What request handlers share, built once per app: settings, database, storage, broker."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import redis
from celery import Celery
from flask import current_app

from api.group_commit import GroupCommit
from api.key_cache import KeyCache
from core.settings import Settings
from db.session import Database, get_database
from storage import Storage, open_storage
from worker.celery_app import make_celery
from worker.queueing import RedisPublisher, fast_publisher

SUBMIT_BATCH = 64  # submits recorded in one transaction at most (api/submission.py)


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
    # Submits of concurrent requests, recorded in one transaction and sent in one push (api/submission.py).
    submits: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.sync_slots = threading.BoundedSemaphore(max(1, self.settings.max_sync_waits))
        self.key_cache = KeyCache(self.settings.key_cache_seconds)
        self.submits = GroupCommit(self._record_submits, SUBMIT_BATCH, "ocr-submit-commit")

    def _record_submits(self, batch):
        from api.submission import record_and_send  # it imports this module

        return record_and_send(self, batch)

    @functools.cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.broker_url, socket_timeout=3, socket_connect_timeout=3)

    @functools.cached_property
    def publisher(self) -> RedisPublisher | None:
        """split_job's fast path onto the broker's Redis lists (worker/queueing.py); None: send_task."""
        return fast_publisher(self.celery, self.redis, self.settings.broker_key_prefix)

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
