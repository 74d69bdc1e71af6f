"""Many rows into one table in one statement: the submit path's inserts (api/submission.py, db/blobs.py).

On PostgreSQL the rows travel as one array per column, unpacked by ``unnest`` in a statement whose
text depends only on the table, the columns and the conflict clause. psycopg parses a statement's
text once per connection and dumps an array in C, so a batch of any size costs about what one row
does. The alternatives cost per row: executemany sends a statement per row (pipeline mode, Python
work for each), and a multi-row VALUES list is new text for every batch size, split again by
psycopg's parser each time (~3 ms for 25 jobs). Rows keep their order (``WITH ORDINALITY``), so a
caller that sorts them takes the rows' locks in that order.

Other databases (SQLite under ``make run``) keep SQLAlchemy Core's executemany (the callers choose):
one writer at a time, and no network between them.

Columns left out of the rows take their Python-side defaults (``default=`` in db/models.py), as
Core's insert would give them, but once per statement: a callable default (``utcnow``) is called
once and every row of the batch gets that value, so give columns that must differ per row (ids).
Server defaults and autoincrement keys are the database's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from enum import Enum

from sqlalchemy import JSON, Table, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session


def postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict],
    *,
    on_conflict: str = "",
    returning: str | None = None,
) -> list:
    """Insert ``rows`` (dicts with the same keys) on PostgreSQL. ``on_conflict``: an ``ON CONFLICT ...``
    clause; ``returning``: one column whose values come back (rows a conflict skipped return none)."""
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        raise ValueError("db.bulk.insert_rows is for PostgreSQL; use SQLAlchemy Core's insert elsewhere")
    given = tuple(rows[0])
    defaults = _defaults(table, given)
    statement = _unnest_statement(table, given, tuple(defaults), on_conflict, returning, dialect)
    params = {}
    for i, name in enumerate(given):
        convert = _converter(table, name)
        params[f"c{i}"] = [convert(row[name]) for row in rows]
    for j, (name, default) in enumerate(defaults.items()):
        params[f"d{j}"] = _converter(table, name)(default())
    result = session.execute(statement, params)
    return list(result.scalars()) if returning else []


def _defaults(table: Table, given: tuple[str, ...]) -> dict:
    """Python-side defaults of the columns not given, as zero-argument callables."""
    out = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if default.is_scalar:
            out[column.name] = lambda value=default.arg: value
        elif default.is_callable:
            out[column.name] = functools.partial(default.arg, None)  # SQLAlchemy wraps fn() as fn(context)
    return out


def _converter(table: Table, name: str):
    """What a column's Python values become for psycopg: JSON as text, enum members as their values."""
    return _json_text if isinstance(table.c[name].type, JSON) else _plain


def _json_text(value):
    return None if value is None else json.dumps(value)


def _plain(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str) and type(value) is not str:
        return str.__str__(value)  # a str subclass: psycopg adapts plain str
    return value


@functools.lru_cache(maxsize=64)
def _unnest_statement(
    table: Table, given: tuple[str, ...], defaulted: tuple[str, ...], on_conflict: str, returning: str | None, dialect: Dialect
):
    def cast(param: str, name: str, array: bool) -> str:
        column = table.c[name]
        suffix = "[]" if array else ""
        if isinstance(column.type, JSON):
            return f"CAST(CAST(:{param} AS text{suffix}) AS json{suffix})"
        return f"CAST(:{param} AS {column.type.compile(dialect=dialect)}{suffix})"

    arrays = ", ".join(cast(f"c{i}", name, True) for i, name in enumerate(given))
    selected = [*given, *(cast(f"d{j}", name, False) for j, name in enumerate(defaulted))]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(given + defaulted)}) SELECT {', '.join(selected)} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS t ({', '.join(given)}, _n) ORDER BY _n"
    )
    if on_conflict:
        sql += f" {on_conflict}"
    if returning:
        sql += f" RETURNING {returning}"
    return text(sql)
