"""Per-key request limits: a fixed window counter in Redis (INCR + EXPIRE).

A fixed window lets a burst of up to twice the limit straddle a window edge;
that is accepted for its simplicity (one round trip, no scripts). When Redis
does not answer the limit is not enforced (fail open) rather than refusing
every request.
"""

from __future__ import annotations

import logging
import math
import time

import redis

from core.errors import RateLimited

log = logging.getLogger(__name__)


def hit(client: redis.Redis, key_prefix: str, key_id: int, limit: int, window: int, now: float | None = None) -> None:
    """Count one request of ``key_id``; raise RateLimited (with retry_after) past ``limit`` per ``window`` s."""
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window_start = int(now // window) * window
    counter = f"{key_prefix}ocr:ratelimit:{key_id}:{window_start}"
    try:
        pipe = client.pipeline(transaction=False)
        pipe.incr(counter)
        pipe.expire(counter, window + 5)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        log.warning("Rate limit not enforced, Redis is unavailable: %s", exc)
        return
    if count > limit:
        retry_after = max(1, math.ceil(window_start + window - now))
        raise RateLimited(f"This key may make {limit} requests per {window} s; try again in {retry_after} s.", retry_after)
