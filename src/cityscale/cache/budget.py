"""A per-request budget of time spent waiting on Redis, so one read adds at most about 100 ms.

Each Redis call is bounded by its own timeout, but a miss makes up to three calls (get, claim the fill
lock, fill): a Redis answering in 90 ms, under the timeout, would add 270 ms. The budget bounds the
sum: a call gets only what is left of it, and after a failed call the request makes no other (a miss
cannot pay several timeouts in series). It lives in a context variable, so the single-flight task a
request starts shares its budget; calls outside a read (writes' invalidation, the listener) have none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REDIS_BUDGET = 0.1  # seconds of Redis waiting one read may pay in total


class RedisBudget:
    def __init__(self, seconds: float) -> None:
        self.left = seconds

    def spend(self, started: float) -> None:
        self.left -= time.monotonic() - started

    def exhaust(self) -> None:
        self.left = 0.0


_current: ContextVar[RedisBudget | None] = ContextVar("redis_budget", default=None)


def current_budget() -> RedisBudget | None:
    return _current.get()


@contextmanager
def redis_budget(seconds: float = REDIS_BUDGET) -> Iterator[RedisBudget]:
    """Bound the Redis calls made inside (and by tasks started inside) to `seconds` in total."""
    budget = RedisBudget(seconds)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
