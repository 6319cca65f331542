"""The service's databases: the primary for writes and, for now, for reads too.

Every query goes through `Database.read()` or `Database.write()`, which say what a query needs rather
than which server it uses, so routing reads elsewhere changes this module and not the handlers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from cityscale.settings import Settings
from cityscale.store.errors import DatabaseUnavailableError
from cityscale.store.pool import Connection, Pool, PoolLimits


@dataclass(frozen=True)
class Probe:
    """The result of a readiness check of one server."""

    name: str
    ok: bool
    latency_ms: float | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "latencyMs": self.latency_ms, "detail": self.detail}


class Database:
    def __init__(self, settings: Settings) -> None:
        limits = PoolLimits(
            min_size=settings.DB_POOL_MIN,
            max_size=settings.DB_POOL_MAX,
            connect_timeout=settings.DB_CONNECT_TIMEOUT,
            acquire_timeout=settings.DB_ACQUIRE_TIMEOUT,
            statement_timeout=settings.DB_STATEMENT_TIMEOUT,
        )
        self.primary = Pool(settings.primary_url, limits, role="primary", name="primary")

    async def open(self) -> None:
        await self.primary.open()

    async def close(self) -> None:
        await self.primary.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        async with self.primary.connection() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        async with self.primary.connection() as conn:
            yield conn

    async def probe(self, timeout: float = 1.0) -> list[Probe]:
        return [await _probe(self.primary, timeout)]


async def _probe(pool: Pool, timeout: float) -> Probe:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await pool.fetchval("SELECT 1")
    except TimeoutError:
        return Probe(pool.name, False, None, f"no answer within {timeout:g} s")
    except DatabaseUnavailableError as exc:
        return Probe(pool.name, False, None, str(exc))
    return Probe(pool.name, True, round((time.perf_counter() - started) * 1000, 2), "ok")
