"""db/bulk.insert_rows on a real PostgreSQL: a batch as arrays in one statement, with the columns'
Python-side defaults, JSON, ON CONFLICT and RETURNING as SQLAlchemy Core's insert would have them."""

from __future__ import annotations

import enum
import os
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, UniqueConstraint, create_engine, select
from sqlalchemy.orm import Session

from db.bulk import insert_rows
from db.session import Database
from tests.integration.conftest import DEFAULT_DATABASE_URL

pytestmark = pytest.mark.integration


class Colour(enum.StrEnum):
    RED = "red"


@pytest.fixture
def table():
    database = Database(os.environ.get("OCR_TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    t = Table(
        f"bulk_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", String(36), primary_key=True),
        Column("owner", Integer, nullable=False),
        Column("token", String(64)),
        Column("n", Integer, default=7),
        Column("colour", String(8), default=Colour.RED),
        Column("created_at", DateTime(timezone=True), default=lambda: datetime(2026, 1, 2, tzinfo=UTC)),
        Column("extra", JSON),
        UniqueConstraint("owner", "token"),
    )
    with database.session() as s:
        t.create(s.connection())
    yield database, t
    with database.session() as s:
        t.drop(s.connection())
    database.dispose()


def test_rows_get_their_defaults_json_and_order(table):
    database, t = table
    rows = [{"id": f"r{i}", "owner": 1, "token": f"t{i}", "extra": {"i": i, "名": "表"} if i % 2 else None} for i in (3, 1, 2)]
    with database.session() as s:
        ids = insert_rows(s, t, rows, on_conflict="ON CONFLICT (owner, token) DO NOTHING", returning="id")
    assert ids == ["r3", "r1", "r2"]  # in the rows' order
    with database.session() as s:
        got = {r.id: r for r in s.execute(select(t))}
    assert {i: (r.n, r.colour, r.created_at, r.extra) for i, r in got.items()} == {
        "r3": (7, "red", datetime(2026, 1, 2, tzinfo=UTC), {"i": 3, "名": "表"}),
        "r1": (7, "red", datetime(2026, 1, 2, tzinfo=UTC), {"i": 1, "名": "表"}),
        "r2": (7, "red", datetime(2026, 1, 2, tzinfo=UTC), None),
    }


def test_a_conflict_skips_only_its_row(table):
    database, t = table
    with database.session() as s:
        insert_rows(s, t, [{"id": "a", "owner": 1, "token": "taken", "n": 1}])
    with database.session() as s:
        ids = insert_rows(
            s,
            t,
            [{"id": "b", "owner": 1, "token": "taken", "n": 2}, {"id": "c", "owner": 2, "token": "taken", "n": 3}],
            on_conflict="ON CONFLICT (owner, token) DO NOTHING",
            returning="id",
        )
    assert ids == ["c"]
    with database.session() as s:
        assert dict(s.execute(select(t.c.id, t.c.n)).all()) == {"a": 1, "c": 3}


def test_only_on_postgresql(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    t = Table("x", MetaData(), Column("id", Integer, primary_key=True))
    with Session(engine) as s, pytest.raises(ValueError, match="PostgreSQL"):
        insert_rows(s, t, [{"id": 1}])
    engine.dispose()
