"""A real PostgreSQL deadlock: the victim transaction is run again instead of failing its request."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import text

from db.session import Database, is_transaction_conflict, retry_conflicts
from tests.integration.conftest import DEFAULT_DATABASE_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def db():
    database = Database(os.environ.get("OCR_TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    table = f"conflict_{uuid.uuid4().hex[:8]}"
    with database.session() as s:
        s.execute(text(f"CREATE TABLE {table} (id int PRIMARY KEY, n int)"))
        s.execute(text(f"INSERT INTO {table} VALUES (1, 0), (2, 0)"))
    yield database, table
    with database.session() as s:
        s.execute(text(f"DROP TABLE {table}"))
    database.dispose()


def _opposite_orders(database: Database, table: str, retry: bool) -> list:
    """Two transactions lock rows 1 and 2 in opposite orders, meeting in the middle."""
    both_hold_one = threading.Barrier(2, timeout=30)
    results: list = []

    def transaction(first: int, second: int, attempt: list) -> str:
        with database.session() as s:
            s.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = :i"), {"i": first})
            attempt.append(1)
            if len(attempt) == 1:  # only the first try waits for the other side
                both_hold_one.wait()
            s.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = :i"), {"i": second})
        return "done"

    def side(first: int, second: int) -> None:
        attempt: list = []
        try:
            run = (
                (lambda: retry_conflicts(lambda: transaction(first, second, attempt)))
                if retry
                else (lambda: transaction(first, second, attempt))
            )
            results.append(run())
        except Exception as exc:  # noqa: BLE001  (the test reads which side lost and how)
            results.append(exc)

    threads = [threading.Thread(target=side, args=order) for order in ((1, 2), (2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_a_deadlock_victim_fails_without_a_retry(db):
    results = _opposite_orders(*db, retry=False)
    assert sum(1 for r in results if r == "done") == 1
    assert any(is_transaction_conflict(r) for r in results if r != "done")


def test_a_deadlock_victim_is_run_again(db):
    database, table = db
    assert _opposite_orders(database, table, retry=True) == ["done", "done"]
    with database.session() as s:
        assert s.execute(text(f"SELECT sum(n) FROM {table}")).scalar() == 4  # both transactions, once each


def test_the_sweep_locks_session_gives_up_on_a_vanished_holder_within_seconds():
    """The server drops the reconciler's lock when its holder's machine vanishes, not two hours later."""
    from db.sweep_lock import LOCK_SESSION_SETTINGS, SweepLock

    database = Database(os.environ.get("OCR_TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    lock = SweepLock(database)
    try:
        assert lock.acquire()
        shown = {name: lock._conn.execute(text(f"SHOW {name}")).scalar() for name in LOCK_SESSION_SETTINGS}
        # a Unix-socket session ignores TCP options and shows 0; the tests connect over TCP
        assert shown == LOCK_SESSION_SETTINGS
    finally:
        lock.release()
        database.dispose()
