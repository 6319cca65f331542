"""database.replicas against a real streaming replica: streaming and fresh, then lagging with replay paused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import asyncpg
import pytest

from cityscale.doctor.report import Status
from cityscale.stack.postgres import PostgresCluster
from tests.doctor.worlds import World
from tests.support.servers import remove, scratch_dir


@pytest.fixture(scope="module")
def replica(pg: PostgresCluster) -> Iterator[PostgresCluster]:
    base = scratch_dir("doctor-replica")
    cluster = PostgresCluster(base / "replica")
    cluster.create_replica_of(pg, durable=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
        remove(base)


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_streaming_replica_then_lagging(world: World, pg: PostgresCluster, replica: PostgresCluster) -> None:
    world.environ.update(
        {"DATABASE_URL": pg.url("postgres"), "DB_REPLICA_URLS": replica.url("postgres"), "MAX_REPLICA_LAG": "0.5"}
    )
    finding = world.check("database.replicas")
    assert finding.status is Status.OK
    assert finding.outcome.evidence[0].startswith(f"127.0.0.1:{replica.port}/postgres: streaming")
    asyncio.run(_execute(replica.url("postgres"), "SELECT pg_wal_replay_pause()"))
    try:
        asyncio.run(
            _execute(
                pg.url("postgres"), "CREATE TABLE IF NOT EXISTS doctor_lag (x int); INSERT INTO doctor_lag VALUES (1)"
            )
        )
        time.sleep(1.0)  # older than MAX_REPLICA_LAG while replay is paused
        asyncio.run(_execute(pg.url("postgres"), "INSERT INTO doctor_lag VALUES (2)"))
        time.sleep(0.3)  # let the replica receive it
        finding = world.check("database.replicas")
    finally:
        asyncio.run(_execute(replica.url("postgres"), "SELECT pg_wal_replay_resume()"))
        asyncio.run(_execute(pg.url("postgres"), "DROP TABLE IF EXISTS doctor_lag"))
    assert finding.status is Status.WARN
    assert "bytes of WAL received but not replayed, replay is paused" in finding.outcome.evidence[0]
    assert "behind (MAX_REPLICA_LAG 0.5 s)" in finding.outcome.evidence[0]
    assert finding.outcome.remediation.startswith("SELECT * FROM pg_stat_replication;")
