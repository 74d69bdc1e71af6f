"""ocr-admin: keys and database chores for operators, on the machine that holds the database.

    ocr-admin db upgrade
    ocr-admin keys create --name NAME [--admin] [--rate-limit 120/min] [--quota-pages N] [--json]
    ocr-admin keys list
    ocr-admin keys revoke ID
    ocr-admin storage init          (creates the S3 bucket that OCR_STORAGE_URL names, if missing)

``keys create`` prints the new key alone on stdout (so ``KEY=$(ocr-admin keys
create --name x)`` works) and the details on stderr; the key is stored hashed
and cannot be shown again.
"""

from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from core.errors import OcrError
from core.settings import REPO_ROOT, get_settings


def upgrade_database(url: str | None = None) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


def _database():
    from db.session import get_database

    return get_database(get_settings().database_url)


def cmd_db_upgrade(_args) -> int:
    upgrade_database()
    print("Database is at the latest revision.", file=sys.stderr)
    return 0


def cmd_keys_create(args) -> int:
    from db.keys import create_key

    with _database().session() as s:
        new = create_key(s, args.name, admin=args.admin, rate_limit=args.rate_limit, quota_pages=args.quota_pages)
        record = new.record
        details = {
            "id": record.id,
            "name": record.name,
            "is_admin": record.is_admin,
            "rate_limit": f"{record.rate_limit}/{record.rate_window}s" if record.rate_limit is not None else "default",
            "quota_pages": record.quota_pages,
            "webhook_secret": record.webhook_secret,
        }
    if args.json:
        print(json.dumps(details | {"key": new.key}))
        return 0
    for name, value in details.items():
        print(f"{name}: {value}", file=sys.stderr)
    print("The key is shown once; store it now:", file=sys.stderr)
    print(new.key)
    return 0


def cmd_keys_list(_args) -> int:
    from db.models import ApiKey

    with _database().session() as s:
        for r in s.scalars(select(ApiKey).order_by(ApiKey.id)):
            state = "revoked" if r.revoked_at else ("admin" if r.is_admin else "active")
            limit = f"{r.rate_limit}/{r.rate_window}s" if r.rate_limit is not None else "default"
            quota = f"{r.pages_used}/{r.quota_pages}" if r.quota_pages is not None else f"{r.pages_used}/-"
            print(f"{r.id:>5}  {r.prefix:<14} {state:<8} rate {limit:<10} pages {quota:<14} {r.name}")
    return 0


def cmd_keys_revoke(args) -> int:
    from db.models import ApiKey, utcnow

    with _database().session() as s:
        record = s.get(ApiKey, args.id)
        if record is None:
            print(f"No key {args.id}.", file=sys.stderr)
            return 1
        record.revoked_at = record.revoked_at or utcnow()
    print(f"Key {args.id} revoked.", file=sys.stderr)
    return 0


def cmd_storage_init(_args) -> int:
    from storage import get_storage
    from storage.s3 import S3Storage

    storage = get_storage(get_settings())
    if isinstance(storage, S3Storage):
        created = storage.create_bucket()
        print(f"Bucket {storage.bucket} {'created' if created else 'already exists'}.", file=sys.stderr)
    storage.check()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-admin", description="Operate the OCR platform: database and API keys.")
    groups = parser.add_subparsers(dest="group", required=True)

    db = groups.add_parser("db", help="database").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="migrate the database to the latest revision").set_defaults(func=cmd_db_upgrade)

    keys = groups.add_parser("keys", help="API keys").add_subparsers(dest="command", required=True)
    create = keys.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True)
    create.add_argument("--admin", action="store_true", help="may see every job and manage keys")
    create.add_argument("--rate-limit", help="requests per window, e.g. 120/min, 5/s, 1000/hour")
    create.add_argument("--quota-pages", type=int, help="pages this key may have read in total")
    create.add_argument("--json", action="store_true", help="print everything as one JSON object on stdout")
    create.set_defaults(func=cmd_keys_create)
    keys.add_parser("list", help="list keys").set_defaults(func=cmd_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_keys_revoke)

    storage = groups.add_parser("storage", help="object storage").add_subparsers(dest="command", required=True)
    storage.add_parser("init", help="create the S3 bucket if missing, check access").set_defaults(func=cmd_storage_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OcrError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:
        print(
            f"error: the database is not usable ({type(exc.orig).__name__}); "
            "is it running, and migrated with 'ocr-admin db upgrade'?",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
