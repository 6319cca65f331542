"""Replica routing under faults: the lag limit, probing a stopped replica back in, a hung replica.

Each under a steady stream of concurrent reads (some of them cache misses, so the database is read all
along). Where reads go is read from the per-pool acquisition counters on /metrics: one borrowed
connection per database read.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.readpath.probes import (
    is_not_ok,
    is_ok,
    mixed_load,
    pool_reads,
    ready_check,
    uncached_reads,
    wait_until,
)
from tests.support.load import Outcome
from tests.support.topology import Topology

LAGGED_IDS = range(2001, 2011)  # outside the load's hot ids, so no cache holds them before the test reads them


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.status not in {200, 304}]


def grew(after: list[float], before: list[float]) -> list[float]:
    return [a - b for a, b in zip(after, before, strict=True)]


async def test_replica_past_the_lag_limit_is_skipped_by_reads_without_a_token(topo: Topology) -> None:
    """No read-your-writes token anywhere: only the lag check keeps the paused replica's old rows out."""
    load = mixed_load(topo)
    await asyncio.sleep(1)
    await topo.query_replica("SELECT pg_wal_replay_pause()")
    try:
        # Written behind the API's back (no token, no cache invalidation): the replica cannot replay it.
        await topo.query_primary(
            "UPDATE cities SET city_name = 'Lagged ' || id WHERE id BETWEEN $1 AND $2", LAGGED_IDS[0], LAGGED_IDS[-1]
        )
        await wait_until(lambda: is_not_ok(topo, "replica-1"), 10, "the replica to be reported lagging")
        assert "lagging" in str((await ready_check(topo, "replica-1"))["detail"])
        replica_before = await pool_reads(topo, "replica-1")
        primary_before = await pool_reads(topo, "primary")
        async with httpx.AsyncClient(timeout=5) as client:  # a fresh client: no cookie, no header
            for city_id in LAGGED_IDS:
                for api in topo.apis:
                    answer = await client.get(f"{api.url}/api/cities/{city_id}")
                    assert answer.status_code == 200
                    assert answer.json()["city_name"] == f"Lagged {city_id}", "a lagging replica answered a read"
        answers = await uncached_reads(topo, 20)
        assert {a.status_code for a in answers} == {200}
        assert grew(await pool_reads(topo, "replica-1"), replica_before) == [0.0] * len(topo.apis)
        assert all(n >= 10 for n in grew(await pool_reads(topo, "primary"), primary_before))
    finally:
        await topo.query_replica("SELECT pg_wal_replay_resume()")
    await wait_until(lambda: is_ok(topo, "replica-1"), 15, "the replica to catch up")
    replica_before = await pool_reads(topo, "replica-1")
    await uncached_reads(topo, 20)
    assert all(n > 0 for n in grew(await pool_reads(topo, "replica-1"), replica_before)), "caught up, not read from"
    outcomes = await load.stop()
    assert failures(outcomes) == []
