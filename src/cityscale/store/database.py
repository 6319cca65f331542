"""The service's databases: the primary for writes, replicas (then the primary) for reads.

Handlers never pick a server: they call `read()` with what they need (optionally "at least as new as
this LSN") or `write()`. Reads go to the least busy healthy replica whose lag is within
`MAX_REPLICA_LAG` and that has replayed the caller's LSN, and fall over to the next one and finally
the primary when a server fails; writes go to the primary and return its WAL position after the
commit, the read-your-writes token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cityscale.breaker import BreakerState
from cityscale.settings import Settings
from cityscale.store.errors import DatabaseUnavailableError, PoolExhaustedError
from cityscale.store.monitor import ServerMonitor
from cityscale.store.pool import Connection, Pool, PoolLimits

T = TypeVar("T")

# With the primary down, a read-your-writes read waits this long for a replica to catch up.
CATCH_UP_WAIT = 1.0
# The insert position, not pg_current_wal_lsn() (the write position): with asynchronous commit the write
# position can still be short of our own commit record, and a token short of it would not be a promise.
_LSN_SQL = "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"


class PrimaryUnavailableError(DatabaseUnavailableError):
    """Writes cannot be served now; `retry_after_seconds` says when to try again."""


@dataclass(frozen=True)
class Probe:
    """One dependency's state, for /readyz."""

    name: str
    ok: bool
    detail: str
    lag_seconds: float | None = None

    def as_dict(self) -> dict[str, object]:
        result: dict[str, object] = {"ok": self.ok, "detail": self.detail}
        if self.lag_seconds is not None:
            result["lagSeconds"] = round(self.lag_seconds, 3)
        return result


class Database:
    def __init__(self, settings: Settings) -> None:
        limits = PoolLimits(
            min_size=settings.DB_POOL_MIN,
            max_size=settings.DB_POOL_MAX,
            connect_timeout=settings.DB_CONNECT_TIMEOUT,
            acquire_timeout=settings.DB_ACQUIRE_TIMEOUT,
            statement_timeout=settings.DB_STATEMENT_TIMEOUT,
        )
        self.max_lag = settings.MAX_REPLICA_LAG
        timeout = settings.DB_CONNECT_TIMEOUT
        self.primary = ServerMonitor(
            Pool(settings.primary_url, limits, role="primary", name="primary"), connect_timeout=timeout
        )
        self.replicas = [
            ServerMonitor(
                Pool(url, limits, role="replica", name=f"replica-{i}"),
                connect_timeout=timeout,
                primary_history=self.primary.history,
            )
            for i, url in enumerate(settings.DB_REPLICA_URLS, start=1)
        ]
        self._next = 0

    @property
    def servers(self) -> list[ServerMonitor]:
        return [self.primary, *self.replicas]

    async def open(self) -> None:
        for server in self.servers:
            await server.pool.open()
            server.start()
        await asyncio.gather(*(server.first_check(timeout=1.0) for server in self.servers))

    async def close(self) -> None:
        for server in self.servers:
            await server.stop()
        await asyncio.gather(*(server.pool.close() for server in self.servers))

    # -- reads ---------------------------------------------------------------------------------------

    def _read_candidates(self, min_lsn: int | None) -> list[ServerMonitor]:
        usable = [
            r for r in self.replicas
            if r.state.healthy and r.breaker.state is BreakerState.CLOSED and r.state.lag_seconds <= self.max_lag
            and (min_lsn is None or r.state.lsn >= min_lsn)
        ]  # fmt: skip
        # Least busy first; the rotating start spreads ties evenly.
        self._next += 1
        usable.sort(key=lambda r: (r.pool.in_use, (self.replicas.index(r) - self._next) % len(self.replicas)))
        if self.primary.breaker.state is not BreakerState.OPEN:
            usable.append(self.primary)
        return usable

    async def read(self, query: Callable[[Connection], Awaitable[T]], *, min_lsn: int | None = None) -> tuple[T, int]:
        """Run a read on the best server; returns the result and an LSN its data is at least as new as."""
        deadline = time.monotonic() + CATCH_UP_WAIT
        last_error: DatabaseUnavailableError | None = None
        while True:
            for server in self._read_candidates(min_lsn):
                # The monitor's reading precedes this query, so the data is at least this new.
                lsn = server.state.lsn
                try:
                    async with server.pool.connection() as conn:
                        return await query(conn), lsn
                except PoolExhaustedError as exc:
                    last_error = exc  # busy, not broken: try the next server, do not trip its breaker
                except DatabaseUnavailableError as exc:
                    server.breaker.failed()
                    last_error = exc
            if min_lsn is None or time.monotonic() > deadline:
                break
            # Read-your-writes with the primary unavailable: give a replica a moment to catch up.
            await asyncio.sleep(0.05)
        if last_error is not None:
            raise last_error
        raise DatabaseUnavailableError(
            "no database can serve reads: the primary is unavailable"
            + (" and no replica has replayed this client's last write" if min_lsn is not None else "")
        )

    # -- writes --------------------------------------------------------------------------------------

    async def write(self, statement: Callable[[Connection], Awaitable[T]]) -> tuple[T, int]:
        """Run a write on the primary; returns the result and the WAL position after its commit."""
        breaker = self.primary.breaker
        if breaker.state is BreakerState.OPEN:
            raise PrimaryUnavailableError(
                f"the primary database is unavailable ({self.primary.state.error}); writes are refused until it "
                "recovers",
            )
        try:
            async with self.primary.pool.connection() as conn:
                result = await statement(conn)
                lsn = int(await conn.fetchval(_LSN_SQL))
        except PoolExhaustedError:
            raise
        except DatabaseUnavailableError:
            breaker.failed()
            raise
        return result, lsn

    # -- readiness -----------------------------------------------------------------------------------

    def probes(self) -> list[Probe]:
        probes = [Probe("primary", self.primary.state.healthy, self.primary.state.error)]
        for replica in self.replicas:
            state = replica.state
            ok = state.healthy and state.lag_seconds <= self.max_lag
            detail = state.error if not state.healthy else (
                "ok" if ok else f"lagging {state.lag_seconds:.1f} s (limit {self.max_lag:g} s)"
            )  # fmt: skip
            probes.append(Probe(replica.name, ok, detail, state.lag_seconds if state.healthy else None))
        return probes
