"""A circuit breaker: after repeated failures, stop calling a dependency for a while, then probe it.

States: `closed` (calls go through), `open` (calls are refused at once, for `reset_after` seconds),
`half_open` (one trial call at a time; success closes, failure opens again). Used for Redis, each
replica and the primary, so a dead dependency costs a fast refusal instead of a timeout per request.
"""

from __future__ import annotations

import time
from enum import Enum


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, name: str, *, failure_threshold: int = 3, reset_after: float = 2.0) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if time.monotonic() - self._opened_at >= self.reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a call go through now? In half-open, only one trial call at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def failed(self) -> None:
        self._trial_in_flight = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = time.monotonic()

    def retry_after(self) -> float:
        """Seconds until the next trial call is allowed (0 when closed)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_after - (time.monotonic() - self._opened_at))
