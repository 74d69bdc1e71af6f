"""What a task needs from its process: settings, database, storage, and the Celery app to enqueue with."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from core.settings import Settings, get_settings
from db.session import Database, get_database
from storage import Storage, get_storage


@dataclass(frozen=True)
class Context:
    settings: Settings
    db: Database
    storage: Storage
    celery: Celery


def get_context() -> Context:
    from worker.celery_app import app

    settings = get_settings()
    return Context(settings=settings, db=get_database(settings.database_url), storage=get_storage(settings), celery=app)
