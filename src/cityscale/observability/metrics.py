"""Every metric family updated on the request path, with its name, labels and buckets.

State that already exists as plain attributes (pool sizes, cache counters, replica health, breakers)
is not duplicated here: `collector.py` reads it at scrape time, so the hot path pays nothing for it.
What is defined here is what only the database hot path can see: pool acquire time, acquire timeouts
and query errors. Request latency and in-flight requests are in `red.py`.

Labels are bounded by construction: route templates (never raw paths), a fixed set of methods and
status classes, pool names taken from the configuration, error classes from a closed set or the
two-character SQLSTATE class.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# 1 ms to 5 s: fine enough below 100 ms (a cache hit is ~1 ms, a DB read a few ms) and up to the
# statement timeout's order, so p99 over a 250 ms SLO is resolvable.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Acquiring an idle connection takes microseconds; waiting for a busy pool takes up to DB_ACQUIRE_TIMEOUT.
ACQUIRE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

DB_POOL_ACQUIRE_SECONDS = Histogram(
    "cityscale_db_pool_acquire_seconds",
    "Time spent waiting for a pooled connection (successful acquisitions only).",
    ["pool", "role"],
    buckets=ACQUIRE_BUCKETS,
)
DB_POOL_ACQUIRE_TIMEOUTS = Counter(
    "cityscale_db_pool_acquire_timeouts_total",
    "Acquisitions that gave up after DB_ACQUIRE_TIMEOUT (pool exhausted or server not accepting).",
    ["pool", "role"],
)
DB_QUERY_ERRORS = Counter(
    "cityscale_db_query_errors_total",
    "Failed database operations by class: connect, connection_lost, statement_timeout, schema, "
    "or sqlstate_XX (the SQLSTATE class of any other server error).",
    ["pool", "role", "error_class"],
)


class PoolInstruments:
    """The hot-path metrics of one pool, with label children resolved once (not per call)."""

    __slots__ = ("_acquire", "_errors", "_labels", "_timeouts")

    def __init__(self, pool: str, role: str) -> None:
        self._labels = (pool, role)
        self._acquire = DB_POOL_ACQUIRE_SECONDS.labels(pool, role)
        self._timeouts = DB_POOL_ACQUIRE_TIMEOUTS.labels(pool, role)
        self._errors: dict[str, Counter] = {}

    def acquired(self, seconds: float) -> None:
        self._acquire.observe(seconds)

    def acquire_timed_out(self) -> None:
        self._timeouts.inc()

    def query_failed(self, error_class: str) -> None:
        child = self._errors.get(error_class)
        if child is None:
            child = self._errors[error_class] = DB_QUERY_ERRORS.labels(*self._labels, error_class)
        child.inc()


def sqlstate_class(sqlstate: str | None) -> str:
    """`sqlstate_23` for a unique violation, etc.: at most ~45 classes, never the message."""
    if sqlstate and len(sqlstate) >= 2 and sqlstate[:2].isalnum():
        return f"sqlstate_{sqlstate[:2].upper()}"
    return "sqlstate_unknown"
