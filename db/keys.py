"""API keys: made here, shown once, stored only as a sha256 hash.

Keys are 256-bit random tokens, so a plain (unsalted, fast) hash is enough:
there is nothing to brute-force, and lookup by hash stays an index probe.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidOption
from core.text import check_text
from db.models import ApiKey

KEY_PREFIX = "ocr_"
ANONYMOUS_HASH = "!anonymous"  # never the sha256 of anything, so no key can match it

_RATE = re.compile(r"^\s*(\d+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hr|hour))?\s*$", re.IGNORECASE)
_WINDOWS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_rate_limit(spec: str) -> tuple[int, int]:
    """'120/min' -> (120, 60); a bare number is per minute."""
    match = _RATE.match(spec or "")
    if not match:
        raise InvalidOption(f"Rate limit {spec!r} is not like '120/min', '5/s' or '1000/hour'.")
    count, unit = int(match.group(1)), (match.group(2) or "min").lower()
    return count, _WINDOWS[unit]


@dataclass
class NewKey:
    record: ApiKey
    key: str  # the only time the plain key exists


def create_key(
    session: Session,
    name: str,
    *,
    admin: bool = False,
    rate_limit: str | None = None,
    quota_pages: int | None = None,
) -> NewKey:
    if not name or not name.strip():
        raise InvalidOption("A key needs a name.")
    check_text(name, "The key name")
    if quota_pages is not None and quota_pages < 0:
        raise InvalidOption("The page quota cannot be negative.")
    limit, window = parse_rate_limit(rate_limit) if rate_limit else (None, 60)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        name=name.strip(),
        key_hash=hash_key(key),
        prefix=key[:12],
        is_admin=admin,
        rate_limit=limit,
        rate_window=window,
        quota_pages=quota_pages,
        pages_used=0,
        webhook_secret=secrets.token_hex(32),
    )
    session.add(record)
    session.flush()
    return NewKey(record=record, key=key)


def find_key(session: Session, key: str) -> ApiKey | None:
    record = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if record is None or record.revoked_at is not None:
        return None
    return record


def anonymous_key(session: Session) -> ApiKey:
    """The owner of jobs sent to the compatibility endpoints without a key (when allowed)."""
    record = session.scalar(select(ApiKey).where(ApiKey.key_hash == ANONYMOUS_HASH))
    if record is not None:
        return record
    try:
        with session.begin_nested():
            record = ApiKey(
                name="anonymous",
                key_hash=ANONYMOUS_HASH,
                prefix="-",
                is_admin=False,
                rate_window=60,
                pages_used=0,
                webhook_secret=secrets.token_hex(32),
            )
            session.add(record)
        return record
    except IntegrityError:  # another request made it first
        return session.scalar(select(ApiKey).where(ApiKey.key_hash == ANONYMOUS_HASH))
