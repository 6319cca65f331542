"""database and cache layers against real servers: leaked connections, no schema, unreachable, Redis stopped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from cityscale.doctor.checks.database.leaks import IDLE_IN_TRANSACTION_SECONDS
from cityscale.doctor.report import Status
from cityscale.stack.ports import free_port
from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.redis import RedisServer
from tests.doctor.listeners import leaked_connections, python_listener
from tests.doctor.worlds import World
from tests.support.servers import remove, running_redis, scratch_dir

_empty_numbers = iter(range(1, 10_000))


def empty_database(pg: PostgresCluster) -> str:
    """A database without the schema (the incident: it was never loaded)."""
    name = f"doctor_empty_{next(_empty_numbers)}"

    async def create() -> None:
        conn = await asyncpg.connect(pg.url("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return pg.url(name)


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{port}"))


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis("doctor-redis") as server:
        yield server


def test_migrated_database_is_reachable_at_head_without_leaks(world: World, database_url: str) -> None:
    world.environ["DATABASE_URL"] = database_url
    report = world.run(only=["database"])
    statuses = {f.id: f.status for f in report.findings}
    assert statuses == {
        "database.connection-leak": Status.OK,
        "database.pool-capacity": Status.OK,
        "database.reachable": Status.OK,
        "database.replicas": Status.SKIP,
        "database.schema": Status.OK,
    }


def test_schema_never_loaded(world: World, pg: PostgresCluster) -> None:
    world.environ["DATABASE_URL"] = empty_database(pg)
    finding = world.check("database.schema")
    assert finding.status is Status.FAIL
    assert "undefined_table (42P01)" in finding.outcome.summary
    assert finding.outcome.remediation.startswith("cityscale migrate")


def test_schema_behind_head_or_loaded_by_hand(world: World, pg: PostgresCluster) -> None:
    """A real database with the table but an old (or no) recorded migration."""
    url = empty_database(pg)
    world.environ["DATABASE_URL"] = url

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(execute("CREATE TABLE cities (id int)"))
    by_hand = world.check("database.schema")
    assert by_hand.status is Status.FAIL
    assert by_hand.outcome.summary == "the cities table exists but no migration is recorded (loaded by hand?)"
    assert by_hand.outcome.remediation.startswith("cityscale migrate")
    asyncio.run(
        execute(
            "CREATE TABLE alembic_version (version_num varchar(32)); INSERT INTO alembic_version VALUES ('0000old')"
        )
    )
    behind = world.check("database.schema")
    assert behind.status is Status.WARN
    assert behind.outcome.summary.startswith("schema at 0000old, the code expects ")
    assert behind.outcome.remediation.startswith("cityscale migrate")


def test_leaked_connections_idle_in_transaction(world: World, database_url: str) -> None:
    world.environ.update({"DATABASE_URL": database_url, "DB_POOL_MAX": "2"})
    with leaked_connections(database_url, 3):
        time.sleep(IDLE_IN_TRANSACTION_SECONDS + 0.3)  # the age that tells a leak from a query in flight
        finding = world.check("database.connection-leak")
    assert finding.status is Status.FAIL
    assert finding.outcome.summary == "connection leak: more connections than the pools allow"
    assert finding.outcome.evidence[0].startswith("3 connection(s) with application_name 'cityscale'")
    assert "allowed: DB_POOL_MAX 2 x 1 instance(s) = 2" in finding.outcome.evidence[0]
    assert sum("idle in transaction for" in e for e in finding.outcome.evidence) == 3
    assert "pg_stat_activity WHERE application_name = 'cityscale'" in finding.outcome.remediation


def test_one_stuck_transaction_within_the_pool_size_is_still_a_leak(world: World, database_url: str) -> None:
    world.environ["DATABASE_URL"] = database_url
    with leaked_connections(database_url, 1):
        time.sleep(IDLE_IN_TRANSACTION_SECONDS + 0.3)
        finding = world.check("database.connection-leak")
    assert finding.status is Status.FAIL
    assert finding.outcome.summary == "connection leak: 1 session(s) idle in transaction"
    assert "idle_in_transaction_session_timeout" in finding.outcome.remediation


def test_unreachable_database_is_refused_and_the_rest_skip(world: World, database_url: str) -> None:
    world.environ["DATABASE_URL"] = with_port(database_url, free_port())
    report = world.run(only=["database"])
    reachable = report.by_id("database.reachable")
    assert reachable.status is Status.FAIL
    assert "connection refused" in reachable.outcome.summary
    assert reachable.outcome.remediation.startswith("pg_isready -h 127.0.0.1")
    assert report.by_id("database.schema").status is Status.SKIP
    assert report.by_id("database.connection-leak").status is Status.SKIP


def test_unknown_host_is_a_dns_error(world: World) -> None:
    world.environ["DATABASE_URL"] = "postgresql://u:p@db.invalid:5432/cities"
    finding = world.check("database.reachable")
    assert finding.status is Status.FAIL
    assert "does not resolve (DNS)" in finding.outcome.summary


def test_wrong_password_is_an_auth_error(world: World, database_url: str) -> None:
    parts = urlsplit(database_url)
    world.environ["DATABASE_URL"] = urlunsplit(
        parts._replace(netloc=f"{parts.username}:wrong@{parts.hostname}:{parts.port}")
    )
    finding = world.check("database.reachable")
    assert finding.status is Status.FAIL
    assert "authentication failed" in finding.outcome.summary


def test_a_server_that_never_answers_is_a_timeout(world: World) -> None:
    """A real process listening on the port that never speaks PostgreSQL (the kernel completes the TCP
    handshake from its backlog): the doctor gives up after its own 3 s, not the configured timeout."""
    port = free_port()
    world.environ["DATABASE_URL"] = f"postgresql://u:p@127.0.0.1:{port}/cities"
    with python_listener(port):
        finding = world.check("database.reachable")
    assert finding.status is Status.FAIL
    assert finding.outcome.summary.startswith(
        f"cannot connect to the primary: no answer from 127.0.0.1:{port} within 3 s"
    )
    assert finding.outcome.remediation == f"pg_isready -h 127.0.0.1 -p {port} -t 5"


def test_pools_larger_than_max_connections(world: World, database_url: str) -> None:
    world.environ.update({"DATABASE_URL": database_url, "DB_POOL_MAX": "500"})
    finding = world.check("database.pool-capacity", instances=4)
    assert finding.status is Status.FAIL
    assert "DB_POOL_MAX 500 x 4 instance(s) = 2000" in finding.outcome.evidence[0]
    assert finding.outcome.remediation.startswith("set DB_POOL_MAX=")
    assert "PgBouncer" in finding.outcome.remediation
    world.write("/compose.yaml", "services:\n  api:\n    image: cityscale\n    deploy: {replicas: 3}\n")
    from_compose = world.check("database.pool-capacity")  # instances from the api's replicas
    assert "DB_POOL_MAX 500 x 3 instance(s) = 1500" in from_compose.outcome.evidence[0]


def test_replica_that_is_a_primary_or_unreachable(world: World, database_url: str) -> None:
    world.environ.update(
        {"DATABASE_URL": database_url, "DB_REPLICA_URLS": f"{database_url},{with_port(database_url, free_port())}"}
    )
    finding = world.check("database.replicas")
    assert finding.status is Status.FAIL
    assert any("not a standby" in e for e in finding.outcome.evidence)
    assert any("connection refused" in e for e in finding.outcome.evidence)
    assert "list only standbys in DB_REPLICA_URLS" in finding.outcome.remediation


def test_no_database_configured_skips_with_reason(world: World) -> None:
    finding = world.check("database.reachable")
    assert finding.status is Status.SKIP
    assert "embedded PostgreSQL" in finding.outcome.summary


def test_redis_running_as_a_cache(world: World, redis_server: RedisServer) -> None:
    world.environ["REDIS_URL"] = redis_server.url
    finding = world.check("cache.redis")
    assert finding.status is Status.OK
    assert "maxmemory-policy allkeys-lru" in finding.outcome.evidence[0]


@pytest.mark.parametrize(("setting", "value"), [("maxmemory-policy", "noeviction"), ("maxmemory", "0")])
def test_redis_that_does_not_evict_like_a_cache_warns(
    world: World, redis_server: RedisServer, setting: str, value: str
) -> None:
    """A real Redis reconfigured at runtime: refusing writes when full, or unbounded, is not a cache."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    previous = client.config_get(setting)[setting]
    client.config_set(setting, value)
    try:
        world.environ["REDIS_URL"] = redis_server.url
        finding = world.check("cache.redis")
    finally:
        client.config_set(setting, previous)
        client.close()
    assert finding.status is Status.WARN
    assert f"{setting} {value}" in finding.outcome.evidence[0]
    assert "CONFIG SET maxmemory-policy allkeys-lru" in finding.outcome.remediation


def test_redis_stopped(world: World) -> None:
    base = scratch_dir("doctor-redis-stopped")
    server = RedisServer(base)
    server.start()
    try:
        server.wait_ready()
    finally:
        server.stop()
        remove(base)
    world.environ["REDIS_URL"] = server.url
    finding = world.check("cache.redis")
    assert finding.status is Status.FAIL
    assert f"cannot connect to Redis at 127.0.0.1:{server.port}" in finding.outcome.summary
    assert finding.outcome.remediation.startswith("systemctl start redis-server")


def test_redis_not_configured_skips(world: World) -> None:
    assert world.check("cache.redis").status is Status.SKIP


def test_api_ready_and_unready(world: World, pg: PostgresCluster, database_url: str, tmp_path: Path) -> None:
    """A real API instance: ready with its database; 503 (and which dependency) without one."""
    from tests.support.servers import api_instance

    with api_instance({"DATABASE_URL": database_url, "LOG_LEVEL": "warning"}, tmp_path) as instance:
        world.write("/compose.yaml", f"services:\n  api:\n    image: cityscale\n    ports: ['{instance.port}:3000']\n")
        finding = world.check("stack.api-ready")
    assert finding.status is Status.OK
    assert any(e.startswith("primary:") for e in finding.outcome.evidence)
    with api_instance({"DATABASE_URL": database_url, "LOG_LEVEL": "warning"}, tmp_path) as instance:
        asyncio.run(_lock_out(pg, database_url))  # the database refuses the API from now on
        _wait_unready(instance.url)  # readiness follows the instance's health monitor (polls every 0.2 s)
        world.write("/compose.yaml", f"services:\n  api:\n    image: cityscale\n    ports: ['{instance.port}:3000']\n")
        finding = world.check("stack.api-ready")
    assert finding.status is Status.FAIL
    assert finding.outcome.summary.endswith("it cannot serve")
    world.write("/compose.yaml", f"services:\n  api:\n    image: cityscale\n    ports: ['{free_port()}:3000']\n")
    assert world.check("stack.api-ready").status is Status.SKIP


def _wait_unready(url: str) -> None:
    import time

    import httpx

    deadline = time.monotonic() + 5
    while httpx.get(f"{url}/readyz", timeout=5).status_code != 503:
        assert time.monotonic() < deadline, "the instance never noticed its database was gone"
        time.sleep(0.1)


async def _lock_out(pg: PostgresCluster, database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    conn = await asyncpg.connect(pg.url("postgres"))
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await conn.close()


def test_missing_database_names_the_createdb_command(world: World, database_url: str) -> None:
    parts = urlsplit(database_url)
    world.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/no_such_db"))
    finding = world.check("database.reachable")
    assert finding.status is Status.FAIL
    assert 'database "no_such_db" does not exist' in finding.outcome.summary
    assert finding.outcome.remediation.startswith(f"createdb -h 127.0.0.1 -p {parts.port} no_such_db")


def test_old_idle_connections_warn(world: World, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Autocommit leaks sit in plain `idle`; past the age threshold (lowered here) they are reported."""
    from cityscale.doctor.checks.database import leaks

    monkeypatch.setattr(leaks, "OLD_IDLE_SECONDS", 0.5)
    world.environ["DATABASE_URL"] = database_url
    with leaked_connections(database_url, 2, in_transaction=False):
        time.sleep(0.8)
        finding = world.check("database.connection-leak")
    assert finding.status is Status.WARN
    assert finding.outcome.summary == "2 connection(s) idle for over 0.5 s"
    assert "pg_stat_activity WHERE application_name = 'cityscale'" in finding.outcome.remediation
