"""Engines and sessions: one engine per database URL per process."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

_lock = threading.Lock()
_databases: dict[str, Database] = {}


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The API and several worker processes write the same file: wait for the lock instead of failing.
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # A database host that does not answer at all (no refusal) must fail in seconds, not after TCP's
    # minutes: the API answers 503 and workers retry, instead of both hanging with the request.
    # pool_size keeps a connection for each of an API process's threads (api/gunicorn_conf.py: 16): a
    # connection over pool_size is closed when given back, and opening one (a new server process on
    # PostgreSQL) costs more than the request that needed it. The pool opens them only as used; 20 at
    # most per process, as before.
    return create_engine(url, pool_pre_ping=True, pool_size=16, max_overflow=4, connect_args={"connect_timeout": 10})


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


# PostgreSQL's deadlock_detected and serialization_failure: it rolled the whole transaction back
# and says running it again may succeed.
_CONFLICT_STATES = ("40P01", "40001")


def is_transaction_conflict(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _CONFLICT_STATES


def retry_conflicts(transaction: Callable[[], T], attempts: int = 4) -> T:
    """``transaction()`` (which opens and commits its own session), run again when PostgreSQL chose
    it as a deadlock's victim: two transactions taking the same rows in opposite orders, e.g. a
    delete of a job while its pages are being recorded, is a race to retry, not an outage."""
    for attempt in range(attempts):
        try:
            return transaction()
        except DBAPIError as exc:
            if not is_transaction_conflict(exc) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0.02, 0.1) * 2**attempt)  # jittered: both sides may retry
    raise AssertionError("unreachable")


def get_database(url: str) -> Database:
    with _lock:
        db = _databases.get(url)
        if db is None:
            db = _databases[url] = Database(url)
        return db


def dispose_all() -> None:
    """Forget every engine; a forked child must not share its parent's connections."""
    with _lock:
        for db in _databases.values():
            db.engine.dispose(close=False)
        _databases.clear()
