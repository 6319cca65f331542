"""A session that holds an exclusive lock on `cities`: every query of the service that reads it waits.

How the tests make requests slow for real (pool exhaustion, drains, single flight) without a fake database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


class CitiesLock:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.held = True

    async def release(self) -> None:
        """Let the waiting queries go (idempotent; the block's end releases it too)."""
        if self.held:
            self.held = False
            await self._conn.execute("ROLLBACK")


@asynccontextmanager
async def cities_locked(url: str) -> AsyncIterator[CitiesLock]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("BEGIN; LOCK TABLE cities IN ACCESS EXCLUSIVE MODE")
        lock = CitiesLock(conn)
        try:
            yield lock
        finally:
            await lock.release()
    finally:
        await conn.close()
