"""Fixtures for unit tests of db/, storage/, worker/ and api/: a platform on SQLite and local disk.

No broker is needed: these tests call the functions the tasks and views call.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.settings import Settings


def sqlite_settings(tmp_path: Path, **overrides) -> Settings:
    data = tmp_path / "data"
    base = Settings.from_env()
    return dataclasses.replace(
        base,
        database_url=f"sqlite:///{data / 'ocr.db'}",
        storage_url=f"file://{data / 'storage'}",
        data_dir=data,
        broker_url="redis://127.0.0.1:1/0",  # nothing listens: these tests must not need a broker
        broker_key_prefix="",
        **overrides,
    )


@pytest.fixture
def settings(tmp_path):
    return sqlite_settings(tmp_path, max_pages_per_job=5, max_page_attempts=3)


@pytest.fixture
def database(settings):
    from api.admin import upgrade_database
    from db.session import Database

    upgrade_database(settings.database_url)
    db = Database(settings.database_url)
    yield db
    db.dispose()


@pytest.fixture
def context(settings, database):
    from storage import open_storage
    from worker.celery_app import make_celery
    from worker.context import Context

    return Context(settings=settings, db=database, storage=open_storage(settings.storage_url), celery=make_celery(settings))
