"""A lock that at most one process holds per database: the reconciler's, so one sweep runs at a time.

PostgreSQL: a session-level advisory lock on a connection kept for as long as
the lock is held. A holder that dies (kill -9) loses its connection and with
it the lock at once: its kernel closes the socket; no lease has to run out.
A holder whose machine vanishes (power off, network cut) closes nothing, and
the server would keep its session -- and the lock -- for as long as its TCP
stack takes to notice, two hours by Linux's defaults; so the lock's session
asks the server to probe an idle peer and to give up on unacknowledged data
within about half a minute (LOCK_SESSION_SETTINGS; `make cluster-test` with
CLUSTER_FAULT=power-off shows it). The key is derived from the database URL,
so test runs in separate schemas of one database each get their own sweep.

SQLite: an flock on a file next to the database. Every process that can open
a SQLite file runs on the same machine, and the kernel drops the lock with
the process.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from db.session import Database

log = logging.getLogger(__name__)


# Server-side socket options of the lock's session (any role may set them for its own session):
# a vanished holder is found dead after idle 10 s + 3 probes 5 s apart, or 20 s of unacked data.
LOCK_SESSION_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "20000",  # milliseconds
}


def _advisory_key(url: str) -> int:
    digest = hashlib.sha256(b"ocr-reconciler:" + url.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SweepLock:
    def __init__(self, db: Database):
        self.db = db
        parsed = make_url(db.url)
        self._backend = parsed.get_backend_name()
        self._key = _advisory_key(db.url)
        self._conn: Connection | None = None
        self._fd: int | None = None
        self._path = None
        if self._backend == "sqlite" and parsed.database and parsed.database != ":memory:":
            self._path = Path(parsed.database + ".sweep-lock")

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def acquire(self) -> bool:
        """True when this process holds the lock (taken now or still held); never waits."""
        if self._backend == "postgresql":
            return self._acquire_advisory()
        if self._backend == "sqlite":
            return self._acquire_file()
        return True  # another database: no lock to take, every worker sweeps (sweeps are idempotent)

    def _acquire_advisory(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception as exc:  # the database went away: the server dropped the lock with the session
                log.warning("Reconciler lock lost: %s", exc)
                self._drop_connection()
        conn = self.db.engine.connect()
        try:
            for name, value in LOCK_SESSION_SETTINGS.items():
                conn.execute(text("SELECT set_config(:name, :value, false)"), {"name": name, "value": value})
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
            conn.commit()
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _acquire_file(self) -> bool:
        if self._fd is not None:
            return True
        if self._path is None:
            return True  # an in-memory database belongs to one process
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            except Exception as exc:
                log.info("Reconciler lock not released cleanly: %s", exc)
            self._drop_connection()
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def _drop_connection(self) -> None:
        try:
            self._conn.invalidate()
            self._conn.close()
        except Exception:  # already broken; nothing more to free
            pass
        self._conn = None
