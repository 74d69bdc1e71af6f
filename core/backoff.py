"""Exponential backoff with jitter, the one formula every retry in the platform waits by."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): base * 2**attempt, at most ``cap``, then jittered.

    The jitter ("equal jitter": half fixed, half random) keeps the workers that lost the
    database or Redis at the same moment from all coming back in the same second.
    """
    ceiling = min(cap, base * 2 ** min(attempt, 30))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
