"""Replica routing under faults: the lag limit, probing a stopped replica back in, a hung replica.

Each under a steady stream of concurrent reads (some of them cache misses, so the database is read all
along). Where reads go is read from the per-pool acquisition counters on /metrics: one borrowed
connection per database read.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from cityscale.chaos.checks import percentile
from tests.readpath.probes import (
    breaker_states,
    frozen,
    is_not_ok,
    is_ok,
    mixed_load,
    pool_reads,
    ready_check,
    uncached_reads,
    wait_until,
)
from tests.support.load import Outcome, between
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


async def assert_reads_skip_the_replica(topo: Topology) -> None:
    before = await pool_reads(topo, "replica-1")
    answers = await uncached_reads(topo, 20)
    assert {a.status_code for a in answers} == {200}
    assert grew(await pool_reads(topo, "replica-1"), before) == [0.0] * len(topo.apis), "an ejected replica was read"


async def assert_reads_reach_the_replica(topo: Topology) -> None:
    before = await pool_reads(topo, "replica-1")
    answers = await uncached_reads(topo, 20)
    assert {a.status_code for a in answers} == {200}
    assert all(n > 0 for n in grew(await pool_reads(topo, "replica-1"), before)), "the replica was not read again"


async def breaker_is(topo: Topology, state: float) -> bool:
    return await breaker_states(topo, "replica-1") == [state] * len(topo.apis)


async def test_stopped_replica_is_ejected_then_probed_back_in(topo: Topology) -> None:
    load = mixed_load(topo)
    await asyncio.sleep(1)
    await assert_reads_reach_the_replica(topo)  # the baseline: reads do use the replica
    await asyncio.to_thread(topo.replica.stop, mode="immediate")
    await wait_until(lambda: breaker_is(topo, 2), 5, "the replica's breaker to open on every instance")
    assert (await ready_check(topo, "replica-1"))["ok"] is False
    await assert_reads_skip_the_replica(topo)
    await asyncio.to_thread(topo.replica.start)
    await wait_until(lambda: is_ok(topo, "replica-1"), 15, "the replica to be reported healthy")
    await wait_until(lambda: breaker_is(topo, 0), 5, "the replica's breaker to close on every instance")
    await assert_reads_reach_the_replica(topo)
    outcomes = await load.stop()
    assert failures(outcomes) == []


async def test_hung_replica_is_ejected_reads_go_to_the_primary_then_it_is_probed_back(topo: Topology) -> None:
    """SIGSTOP of every replica process: connections are accepted and never answered."""
    load = mixed_load(topo)
    await asyncio.sleep(3)
    await assert_reads_reach_the_replica(topo)
    hung_at = time.monotonic()
    with frozen(topo.replica):
        await wait_until(lambda: breaker_is(topo, 2), 5, "the hung replica's breaker to open on every instance")
        ejected_at = time.monotonic()
        assert (await ready_check(topo, "replica-1"))["ok"] is False
        await assert_reads_skip_the_replica(topo)
        await asyncio.sleep(2)
        resumed_at = time.monotonic()
    await wait_until(lambda: is_ok(topo, "replica-1"), 15, "the resumed replica to be reported healthy")
    await wait_until(lambda: breaker_is(topo, 0), 5, "the resumed replica's breaker to close on every instance")
    await assert_reads_reach_the_replica(topo)
    outcomes = await load.stop()
    assert failures(outcomes) == []
    # A read caught on the hung replica waits at most the client-side statement bound
    # (DB_STATEMENT_TIMEOUT 2 s + DB_CONNECT_TIMEOUT 0.5 s), then is answered by the primary (2 s of slack
    # for this shared machine; the load's own client timeout is 5 s).
    worst = max(o.latency for o in between(outcomes, hung_at - 1, resumed_at))
    assert worst < 2.5 + 2, f"a read waited {worst:.1f} s on a hung replica"
    # Once ejected, reads pay nothing for it: database reads (the list misses) and all reads compared,
    # by median, with those that completed before the hang in the same run. Trying the hung replica
    # first would add at least DB_ACQUIRE_TIMEOUT (0.5 s) to every miss.
    before = [o for o in between(outcomes, hung_at - 2, hung_at) if o.at + o.latency < hung_at]
    after = between(outcomes, ejected_at + 0.5, resumed_at)
    for what, marker in (("database reads", "min_population"), ("reads", "/api/cities")):
        was = [o.latency for o in before if marker in o.path]
        now = [o.latency for o in after if marker in o.path]
        assert len(was) >= 5
        assert len(now) >= 20
        added = percentile(now, 0.5) - percentile(was, 0.5)
        assert added < 0.25, f"{what} after the ejection were {added * 1000:.0f} ms slower (median)"
