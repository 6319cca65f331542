"""Health, WAL position and replay lag of one database server, polled in the background.

Each server (primary and every replica) gets a monitor with a connection of its own (application
name `cityscale-monitor`, outside the request pool, so a busy pool never looks like a dead server).
Its readings drive routing: a replica is read from only while healthy, not lagging past the limit,
and, for read-your-writes, only once it has replayed the writer's LSN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

import asyncpg

from cityscale.breaker import CircuitBreaker
from cityscale.store.pool import CONNECTION_ERRORS, Pool

log = logging.getLogger("cityscale.store")

MONITOR_APPLICATION_NAME = "cityscale-monitor"
POLL_INTERVAL = 0.2

_PRIMARY_SQL = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, 0::float8, pg_is_in_recovery()"
# Lag is 0 while everything received is replayed (nothing to catch up on); otherwise the age of the
# last replayed transaction, which grows while replay is stuck or paused.
_REPLICA_SQL = """
    SELECT pg_wal_lsn_diff(coalesce(pg_last_wal_replay_lsn(), '0/0'), '0/0')::bigint,
           CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                THEN 0
                ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8,
           pg_is_in_recovery()
"""


class LsnHistory:
    """When the primary reached which WAL position: turns a replica's position into seconds behind."""

    def __init__(self, horizon_samples: int = 3000) -> None:
        self._samples: deque[tuple[float, int]] = deque(maxlen=horizon_samples)

    def record(self, lsn: int) -> None:
        if not self._samples or lsn > self._samples[-1][1]:
            self._samples.append((time.monotonic(), lsn))

    def seconds_behind(self, lsn: int) -> float | None:
        """How long ago the primary first passed `lsn` (0 when `lsn` is current); None without samples."""
        if not self._samples:
            return None
        if lsn >= self._samples[-1][1]:
            return 0.0
        for at, primary_lsn in self._samples:
            if primary_lsn > lsn:
                return time.monotonic() - at
        return 0.0


@dataclass
class ServerState:
    healthy: bool = False
    lsn: int = 0  # primary: its WAL position; replica: what it has replayed. As of `checked_at`.
    lag_seconds: float = 0.0
    in_recovery: bool = False
    checked_at: float = 0.0
    error: str = "not checked yet"


class ServerMonitor:
    def __init__(
        self,
        pool: Pool,
        *,
        connect_timeout: float,
        interval: float = POLL_INTERVAL,
        primary_history: LsnHistory | None = None,
    ) -> None:
        self.pool = pool
        # The primary records its history; a replica measures its lag against the primary's.
        self.history = LsnHistory()
        self.primary_history = primary_history
        self.connect_timeout = connect_timeout
        self.interval = interval
        self.state = ServerState()
        self.breaker = CircuitBreaker(pool.name, failure_threshold=2, reset_after=1.0)
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._checked = asyncio.Event()

    @property
    def name(self) -> str:
        return self.pool.name

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def first_check(self, timeout: float) -> None:
        """Wait (bounded) for the first reading, so start-up routing is informed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._checked.wait(), timeout)

    async def _run(self) -> None:
        while True:
            await self.check()
            self._checked.set()
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        sql = _PRIMARY_SQL if self.pool.role == "primary" else _REPLICA_SQL
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    self.pool.url, timeout=self.connect_timeout,
                    server_settings={"application_name": MONITOR_APPLICATION_NAME},
                )  # fmt: skip
            row = await self._conn.fetchrow(sql, timeout=self.connect_timeout)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:  # type: ignore[misc]
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None
            self._failed(f"{type(exc).__name__}: {exc}".strip())
            return
        assert row is not None  # noqa: S101
        lsn, lag, in_recovery = row
        expected_recovery = self.pool.role == "replica"
        if in_recovery != expected_recovery:
            # A promoted replica or a demoted primary: not what this pool is for.
            self._failed("in recovery" if in_recovery else "not in recovery (promoted?)")
            return
        if self.pool.role == "primary":
            self.history.record(int(lsn))
        elif self.primary_history is not None:
            # The replay timestamp is NULL until a transaction is replayed, and says nothing while the
            # primary is idle; the primary's own history of positions covers both cases.
            behind = self.primary_history.seconds_behind(int(lsn))
            lag = max(float(lag), behind or 0.0)
        self.state = ServerState(True, int(lsn), float(lag), bool(in_recovery), time.monotonic(), "ok")
        self.breaker.succeeded()

    def _failed(self, error: str) -> None:
        if self.state.healthy:
            log.warning("%s database is unhealthy: %s", self.name, error)
        self.state = ServerState(
            False, self.state.lsn, self.state.lag_seconds, self.state.in_recovery, time.monotonic(), error
        )
        self.breaker.failed()
