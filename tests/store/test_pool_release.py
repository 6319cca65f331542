"""Every way a borrower can abandon a connection gives it back: cancellation, an exception, a client that
hangs up; and closing the pool leaves no session on the server.

The pool's own counters (`in_use`, `idle`, the `/metrics` gauge) and `pg_stat_activity` are both checked:
the first says the app thinks the connection is back, the second that the server agrees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from cityscale.store.errors import DatabaseUnavailableError
from cityscale.store.pool import Pool, PoolLimits
from tests.observability.scrape import parse, value
from tests.support.locks import cities_locked
from tests.support.servers import api_instance


async def app_sessions(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = 'cityscale' AND datname = $1",
            urlsplit(url).path.lstrip("/"),
        )
    finally:
        await conn.close()


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15) -> None:
    """Poll an async predicate; generous bound, since the machine is shared and noisy."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@asynccontextmanager
async def open_pool(url: str, max_size: int = 2) -> AsyncIterator[Pool]:
    limits = PoolLimits(min_size=0, max_size=max_size, connect_timeout=2, acquire_timeout=2, statement_timeout=60)
    pool = Pool(url, limits, role="primary", name="primary")
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_cancelled_borrower_gives_its_connection_back(database_url: str) -> None:
    async with open_pool(database_url, max_size=1) as pool:

        async def abandoned() -> None:
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_sleep(60)")

        task = asyncio.create_task(abandoned())

        async def sleeping() -> bool:
            return any("pg_sleep" in s["query"] and s["state"] == "active" for s in await app_sessions(database_url))

        await wait_until(sleeping, "the borrower never started its query")
        assert pool.in_use == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.in_use == 0

        async def nothing_running() -> bool:
            return all(s["state"] == "idle" for s in await app_sessions(database_url))

        # The server stopped the statement too: the connection is idle, not still sleeping for a minute.
        await wait_until(nothing_running, "the cancelled statement kept running on the server")
        async with pool.connection() as conn:  # the only connection is usable again
            assert await conn.fetchval("SELECT 1") == 1
        assert (pool.in_use, pool.idle, pool.size) == (0, 1, 1)


async def test_an_exception_in_the_block_gives_the_connection_back_clean(database_url: str) -> None:
    async with open_pool(database_url, max_size=1) as pool:

        async def buggy_handler() -> None:
            async with pool.connection() as conn:
                await conn.execute("BEGIN")
                await conn.execute("UPDATE cities SET population = 0 WHERE id = 1")
                raise RuntimeError("handler bug")

        with pytest.raises(RuntimeError, match="handler bug"):
            await buggy_handler()
        assert pool.in_use == 0
        async with pool.connection() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT population FROM cities WHERE id = 1") > 0  # rolled back
        sessions = await app_sessions(database_url)
        assert [s["state"] for s in sessions] == ["idle"]


async def test_close_waits_for_a_borrower_then_leaves_no_session(database_url: str) -> None:
    async with open_pool(database_url) as pool:
        borrowed = asyncio.Event()

        async def short_request() -> int:
            async with pool.connection() as conn:
                borrowed.set()
                await conn.execute("SELECT pg_sleep(0.5)")
                return 7

        task = asyncio.create_task(short_request())
        await borrowed.wait()
        await pool.close(timeout=30)
        assert await task == 7  # the request in flight finished normally: close drained, did not cut it
        assert await app_sessions(database_url) == []
        with pytest.raises(DatabaseUnavailableError, match="pool is closed"):
            async with pool.connection():
                pass


async def test_close_terminates_a_borrower_stuck_past_its_timeout(database_url: str) -> None:
    async with open_pool(database_url) as pool:
        borrowed = asyncio.Event()

        async def stuck() -> None:
            async with pool.connection() as conn:
                borrowed.set()
                await conn.execute("SELECT pg_sleep(60)")

        task = asyncio.create_task(stuck())
        await borrowed.wait()
        # Bounded by close's own timeout, not by the minute-long statement (wait_for fails the test otherwise).
        await asyncio.wait_for(pool.close(timeout=0.5), 20)
        with pytest.raises(DatabaseUnavailableError, match="connection lost"):
            await asyncio.wait_for(task, 20)
        assert pool.in_use == 0
    # PostgreSQL notices the closed socket only when the statement ends (in the service: at
    # DB_STATEMENT_TIMEOUT, 5 s by default); end the test's minute-long one rather than leave it.
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cityscale' "
            "AND datname = current_database()"
        )
    finally:
        await admin.close()


def pool_gauge(metrics: str, name: str) -> float:
    return value(parse(metrics), name, pool="primary", role="primary")


async def test_client_disconnects_and_failed_requests_return_connections(database_url: str, scratch: Path) -> None:
    env = {
        "DATABASE_URL": database_url,
        "DB_POOL_MAX": "3",
        "DB_ACQUIRE_TIMEOUT": "5",
        "DB_STATEMENT_TIMEOUT": "2",
        "CACHE_TTL": "0",
        "LOG_LEVEL": "warning",
    }
    with api_instance(env, scratch / "logs") as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=20) as client:

            async def in_use() -> float:
                return pool_gauge((await client.get("/metrics")).text, "cityscale_db_pool_in_use")

            async with cities_locked(database_url) as lock:
                # Two clients hang up while their reads wait on the lock; one read fails inside the handler
                # (the server cancels it at the statement timeout).
                gave_up = [
                    asyncio.create_task(client.get(f"/api/cities/{i}", timeout=0.5)) for i in (11, 12)
                ]  # fmt: skip
                failing = asyncio.create_task(client.get("/api/cities/13"))

                async def three_borrowed() -> bool:
                    return await in_use() == 3

                await wait_until(three_borrowed, "the three requests never borrowed their connections")
                for task in gave_up:
                    with pytest.raises(httpx.TimeoutException):
                        await task
                failed = await failing
                assert failed.status_code == 503, failed.text
                assert failed.headers["content-type"] == "application/problem+json"
                await lock.release()

            async def all_back() -> bool:
                return await in_use() == 0

            await wait_until(all_back, "a connection stayed borrowed after its client left")
            metrics = (await client.get("/metrics")).text
            assert pool_gauge(metrics, "cityscale_db_pool_idle") == pool_gauge(metrics, "cityscale_db_pool_size")
            assert [s["state"] for s in await app_sessions(database_url) if s["state"] != "idle"] == []

            # The statement timeouts above count as failures of the primary, so its circuit breaker may
            # hold reads back for a moment (by design, docs/read-path.md); once it serves again, the
            # returned connections carry a full pool's worth of concurrent reads.
            async def serving() -> bool:
                return (await client.get("/api/cities/19")).status_code == 200

            await wait_until(serving, "the service did not serve again after the lock was released")
            results = await asyncio.gather(*(client.get(f"/api/cities/{i}") for i in range(20, 26)))
            assert {r.status_code for r in results} == {200}, [r.text for r in results if r.status_code != 200]
