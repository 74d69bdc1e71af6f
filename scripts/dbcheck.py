"""Does a server answer at this URL? Used by the shell scripts before they start their own.

    python scripts/dbcheck.py postgres URL [--create] [--recreate]
    python scripts/dbcheck.py redis URL

Exit status 0 when the server answers (and, for PostgreSQL, the database exists or was created).
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit, urlunsplit


def _libpq_url(url: str) -> str:
    # SQLAlchemy spells the driver into the scheme; libpq does not know it.
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def _admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(_libpq_url(url))
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def check_postgres(url: str, create: bool, recreate: bool) -> int:
    import psycopg

    if recreate:
        admin_url, dbname = _admin_url(url)
        with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return 0
    try:
        psycopg.connect(_libpq_url(url), connect_timeout=5).close()
        return 0
    except psycopg.OperationalError as exc:
        if not create or "does not exist" not in str(exc):
            print(f"dbcheck: {exc}".strip(), file=sys.stderr)
            return 1
    admin_url, dbname = _admin_url(url)
    with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return 0


def check_redis(url: str) -> int:
    import redis

    try:
        return 0 if redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping() else 1
    except redis.RedisError as exc:
        print(f"dbcheck: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["postgres", "redis"])
    parser.add_argument("url")
    parser.add_argument("--create", action="store_true", help="create the PostgreSQL database if it is missing")
    parser.add_argument("--recreate", action="store_true", help="drop and create the PostgreSQL database")
    args = parser.parse_args(argv)
    if args.kind == "redis":
        return check_redis(args.url)
    try:
        return check_postgres(args.url, args.create, args.recreate)
    except Exception as exc:  # any failure means "no usable server here"; the caller starts its own
        print(f"dbcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
