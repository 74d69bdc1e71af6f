"""API keys on requests: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

The key's record is looked up by the sha256 of the key, then the request is
counted against the key's rate limit. Handlers read ``g.api_key``.

A key found is trusted for ``key_cache_seconds`` (2 s) by the process that looked it up
(api/key_cache.py): a busy client's requests then cost no database round trip for the key.
So a key revoked through another process keeps working there for up to that long; the
process that revokes it forgets it at once. Unknown keys are never cached, so a new key
works at once and wrong keys cannot fill the cache. The page quota is checked against
the database's count when a job is submitted (api/submission.py), not the cached one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import g, request

from api import ratelimit
from api.services import services
from core.errors import Forbidden, Unauthorized
from db.keys import anonymous_key, find_key, hash_key
from db.models import ApiKey


@dataclass(frozen=True)
class Caller:
    id: int
    name: str
    is_admin: bool
    rate_limit: int | None
    rate_window: int
    quota_pages: int | None
    pages_used: int

    @classmethod
    def of(cls, record: ApiKey) -> Caller:
        return cls(
            id=record.id,
            name=record.name,
            is_admin=record.is_admin,
            rate_limit=record.rate_limit,
            rate_window=record.rate_window or 60,
            quota_pages=record.quota_pages,
            pages_used=record.pages_used,
        )


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key", "").strip() or None


def authenticate(*, allow_anonymous: bool = False) -> Caller:
    svc = services()
    key = presented_key()
    key_hash = hash_key(key) if key is not None else None
    caller = svc.key_cache.get(key_hash) if key_hash is not None else None
    if caller is None:
        with svc.db.session() as s:
            if key is None:
                if not allow_anonymous:
                    raise Unauthorized("Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")
                record = anonymous_key(s)
            else:
                record = find_key(s, key)
                if record is None:
                    raise Unauthorized("The API key is not valid (unknown or revoked).")
            caller = Caller.of(record)
        if key_hash is not None:
            svc.key_cache.put(key_hash, caller)
    limit = caller.rate_limit if caller.rate_limit is not None else svc.settings.default_rate_limit
    window = caller.rate_window if caller.rate_limit is not None else 60
    ratelimit.hit(svc.redis, svc.settings.broker_key_prefix, caller.id, limit, window)
    g.api_key = caller
    return caller


def require_key(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        authenticate()
        return view(*args, **kwargs)

    return wrapper


def require_admin(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not authenticate().is_admin:
            raise Forbidden("This needs an admin key.")
        return view(*args, **kwargs)

    return wrapper
