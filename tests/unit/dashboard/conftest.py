"""The dashboard's queries, retry/rerun transitions and heartbeats on SQLite (no broker)."""

from __future__ import annotations

import pytest

from tests.unit.platform.conftest import sqlite_settings


@pytest.fixture
def settings(tmp_path):
    return sqlite_settings(tmp_path)


@pytest.fixture
def database(settings):
    from api.admin import upgrade_database
    from db.session import Database

    upgrade_database(settings.database_url)
    db = Database(settings.database_url)
    yield db
    db.dispose()


@pytest.fixture
def services(settings, database):
    from api.services import Services

    return Services.build(settings)


@pytest.fixture
def key_id(database):
    from db.keys import create_key

    with database.session() as s:
        return create_key(s, "tester").record.id
