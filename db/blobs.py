"""Reference counts of stored uploads (``input_blobs``), taken under the row's lock.

Submitting a job counts its uploads first (an in-flight reference) and
stores the bytes only after that commits; deleting a job takes the counts
down and removes an upload whose count reached zero while it still holds the
row. A submission of the same bytes meanwhile waits on the row, then finds
no blob and stores it again: no moment exists where a job, committed or on
its way, is without its upload. Rows are locked in sha256 order so two
transactions never wait on each other in a circle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from db.bulk import insert_rows, postgres
from db.models import InputBlob, utcnow


def add_references(session: Session, hashes: Iterable[str]) -> None:
    counts = Counter(hashes)
    if not counts:
        return
    table = InputBlob.__table__
    if postgres(session):  # one statement for the batch (db/bulk.py), rows locked in sha256 order
        rows = [{"sha256": sha, "refs": n} for sha, n in sorted(counts.items())]
        insert_rows(
            session, table, rows, on_conflict=f"ON CONFLICT (sha256) DO UPDATE SET refs = {table.name}.refs + excluded.refs"
        )
        return
    rows = [{"sha256": sha, "refs": n, "created_at": utcnow()} for sha, n in sorted(counts.items())]
    # SQLite: one statement run for each row (in sha256 order), not one multi-row VALUES: its compiled
    # form is cached, where a VALUES list is compiled again on every call. On the table, not the ORM
    # class: Core's executemany, without the ORM's bulk-insert path.
    statement = sqlite.insert(table)
    statement = statement.on_conflict_do_update(index_elements=["sha256"], set_={"refs": table.c.refs + statement.excluded.refs})
    session.execute(statement, rows)


def drop_references(session: Session, hashes: Iterable[str], remove: Callable[[str], None]) -> list[str]:
    """Take one reference per hash away; ``remove(sha256)`` each upload no job uses any more, under the lock.

    Hashes without a row (uploads stored before reference counts existed and never
    counted) are left alone: keeping an upload is safe, removing a used one is not.
    """
    counts = Counter(hashes)
    if not counts:
        return []
    rows = session.scalars(
        select(InputBlob).where(InputBlob.sha256.in_(sorted(counts))).order_by(InputBlob.sha256).with_for_update()
    )
    freed = []
    for row in rows:
        row.refs -= counts[row.sha256]
        if row.refs <= 0:
            session.delete(row)
            freed.append(row.sha256)
    session.flush()
    for sha256 in freed:
        remove(sha256)
    return freed
