"""The original service's failures, re-enacted against a real PostgreSQL: leaks, exhaustion, hangs."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from cityscale.stack.postgres import PostgresCluster
from cityscale.store.pool import Pool, PoolLimits
from tests.support.locks import cities_locked
from tests.support.servers import api_instance
from tests.support.tcp_proxy import tcp_proxy

POOL_MAX = 5


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def app_sessions(admin_url: str, dbname: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(admin_url)
    try:
        return await conn.fetch(
            "SELECT state, wait_event_type FROM pg_stat_activity WHERE application_name = 'cityscale' AND datname = $1",
            dbname,
        )
    finally:
        await conn.close()


async def burst(base_url: str, count: int) -> list[int | str]:
    """`count` concurrent requests: good reads, bad ids, misses, and clients that give up early."""
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:

        async def one(i: int) -> int | str:
            kind = i % 4
            try:
                if kind == 0:
                    response = await client.get(f"/api/cities/{rng.randint(1, 30000)}")
                elif kind == 1:
                    response = await client.get("/api/cities/not-a-number")
                elif kind == 2:
                    response = await client.get("/api/cities", params={"country": "DE", "limit": 200})
                else:  # the client hangs up while the server is still working on it
                    response = await client.get(f"/api/cities/{rng.randint(1, 30000)}", timeout=0.2)
            except httpx.TimeoutException:
                return "client-timeout"
            return response.status_code

        return await asyncio.gather(*(one(i) for i in range(count)))


@pytest.mark.slow
async def test_no_connection_leaks_under_failures_and_cancellations(
    database_url: str, scratch: Path, pg: PostgresCluster
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "DB_POOL_MAX": str(POOL_MAX),
        "DB_ACQUIRE_TIMEOUT": "1",
        "DB_STATEMENT_TIMEOUT": "3",
        "LOG_LEVEL": "warning",
    }
    with api_instance(env, scratch / "logs") as api:
        # A long lock makes every read wait, so the burst fills the pool, queues, and times out.
        async with cities_locked(database_url) as lock:
            burst_task = asyncio.create_task(burst(api.url, 400))
            # Hold the lock until the pool is full of blocked queries, then past the acquire timeout, so
            # the requests queued behind them must give up (on a loaded machine the burst arrives slowly).
            deadline = time.monotonic() + 20
            while (
                sum(
                    s["wait_event_type"] == "Lock"
                    for s in await app_sessions(pg.url("postgres"), database_name(database_url))
                )
                < POOL_MAX
            ):
                assert time.monotonic() < deadline, "the pool never filled up"
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.0)
            sessions_during = await app_sessions(pg.url("postgres"), database_name(database_url))
            await lock.release()
        statuses = await burst_task

        assert len(sessions_during) <= POOL_MAX
        assert 500 not in statuses
        assert statuses.count(400) == 100
        assert 503 in statuses  # requests that could not get a connection in time were told to retry
        assert "client-timeout" in statuses
        assert set(statuses) <= {200, 400, 503, "client-timeout"}

        # Afterwards every connection is back: no more than the pool's size, none stuck in a transaction.
        await asyncio.sleep(0.5)
        sessions = await app_sessions(pg.url("postgres"), database_name(database_url))
        assert len(sessions) <= POOL_MAX
        assert [s["state"] for s in sessions if s["state"] != "idle"] == []
        async with httpx.AsyncClient(base_url=api.url) as client:
            results = await asyncio.gather(*(client.get(f"/api/cities/{i}") for i in range(1, 51)))
        assert {r.status_code for r in results} == {200}


async def test_pool_exhaustion_is_a_fast_503_with_retry_after(database_url: str, scratch: Path) -> None:
    env = {
        "DATABASE_URL": database_url,
        "DB_POOL_MAX": "1",
        "DB_ACQUIRE_TIMEOUT": "0.5",
        "DB_STATEMENT_TIMEOUT": "5",
        "LOG_LEVEL": "warning",
    }
    with api_instance(env, scratch / "logs") as api:
        async with cities_locked(database_url) as lock, httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            holder = asyncio.create_task(client.get("/api/cities/1"))
            await asyncio.sleep(0.3)  # the only connection is now waiting on the lock
            started = time.monotonic()
            response = await client.get("/api/cities/2")
            waited = time.monotonic() - started
            await lock.release()
            assert (await holder).status_code == 200
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    assert "pool exhausted" in response.json()["detail"]
    assert 0.4 < waited < 3  # about the acquire timeout: neither instant nor a hang


async def test_hung_database_gives_503_within_the_configured_bound(
    database_url: str, scratch: Path, pg: PostgresCluster
) -> None:
    with tcp_proxy(pg.port) as proxy:
        env = {
            "DATABASE_URL": with_port(database_url, proxy.port),
            "DB_CONNECT_TIMEOUT": "0.5",
            "DB_ACQUIRE_TIMEOUT": "0.5",
            "DB_STATEMENT_TIMEOUT": "1",
            "LOG_LEVEL": "warning",
        }
        with api_instance(env, scratch / "logs") as api:
            async with httpx.AsyncClient(base_url=api.url, timeout=20) as client:
                assert (await client.get("/api/cities/1")).status_code == 200
                proxy.blackhole()  # accepts, never answers: existing and new connections hang
                bound = 0.5 + 1 + 0.5 + 1.5  # acquire + statement + connect, plus scheduling slack
                for path in ("/api/cities/2", "/api/cities/3", "/readyz"):
                    started = time.monotonic()
                    response = await client.get(path)
                    elapsed = time.monotonic() - started
                    assert response.status_code == 503, (path, response.text)
                    assert elapsed < bound, (path, elapsed)
                assert (await client.get("/healthz")).status_code == 200  # liveness checks no dependency
                proxy.restore()
                deadline = time.monotonic() + 15
                while (await client.get("/api/cities/4")).status_code != 200:
                    assert time.monotonic() < deadline, "did not recover after the database came back"
                    await asyncio.sleep(0.2)


async def test_unreachable_database_gives_503_not_500(database_url: str, scratch: Path, pg: PostgresCluster) -> None:
    with tcp_proxy(pg.port) as proxy:
        env = {"DATABASE_URL": with_port(database_url, proxy.port), "LOG_LEVEL": "warning"}
        with api_instance(env, scratch / "logs") as api:
            proxy.stop()  # now nothing listens there: connection refused
            response = httpx.get(f"{api.url}/api/cities/5", timeout=10)
            assert response.status_code == 503
            assert response.json()["title"] == "Database unavailable"
            # Readiness follows the background health checks (every 0.2 s): give them a moment.
            deadline = time.monotonic() + 3
            while (ready := httpx.get(f"{api.url}/readyz", timeout=10)).status_code != 503:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.1)
            assert ready.json()["checks"]["primary"]["ok"] is False


async def test_a_database_that_refuses_connections_gives_503_not_500(
    database_url: str, scratch: Path, pg: PostgresCluster
) -> None:
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "warning", "CACHE_TTL": "0"}
    with api_instance(env, scratch / "logs") as api:
        name = database_name(database_url)
        admin = await asyncpg.connect(pg.url("postgres"))
        try:
            # The server is up but refuses this database: a PostgreSQL error at connect time, not a network one.
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
                response = await client.get("/api/cities/7")
            assert response.status_code == 503, response.text
            assert response.json()["title"] == "Database unavailable"
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await admin.close()


async def test_release_rolls_back_an_open_transaction_without_a_reset_round_trip(database_url: str) -> None:
    # Release skips asyncpg's RESET ALL round trip (LeanResetConnection); a transaction left open by a
    # caller must still never reach the next borrower.
    limits = PoolLimits(min_size=0, max_size=1, connect_timeout=2, acquire_timeout=1, statement_timeout=5)
    pool = Pool(database_url, limits, role="primary", name="primary")
    await pool.open()
    try:
        async with pool.connection() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TABLE left_open_by_a_bug (id int)")
        async with pool.connection() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('left_open_by_a_bug')") is None
            backend = await conn.fetchval("SELECT pg_backend_pid() AS the_last_statement")
        # What the server saw last on that connection: our statement, not asyncpg's reset query.
        observer = await asyncpg.connect(database_url)
        try:
            last = await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", backend)
        finally:
            await observer.close()
        assert last == "SELECT pg_backend_pid() AS the_last_statement"
    finally:
        await pool.close()
