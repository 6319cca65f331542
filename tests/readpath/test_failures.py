"""DESIGN.md's failure table, one row per test, each under a steady stream of concurrent reads."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx

from cityscale.chaos.checks import percentile
from tests.support.load import Outcome, SteadyLoad, between
from tests.support.topology import API_TOKEN, Topology

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def hot_ids(rng: object) -> str:
    import random

    assert isinstance(rng, random.Random)
    return f"/api/cities/{rng.randint(1, 300)}"


def load_on(topo: Topology) -> SteadyLoad:
    load = SteadyLoad([api.url for api in topo.apis], hot_ids, workers=8, max_seconds=60)
    load.start()
    return load


def assert_little_added_latency(outcomes: list[Outcome], start: float, end: float, what: str) -> None:
    """About 100 ms added at most: compared with the same run's latency before the fault, since this
    machine's own load moves absolute numbers (medians within 100 ms, p99 within 250 ms)."""
    before = [o.latency for o in between(outcomes, start - 1.5, start)]  # after the warm-up, before the fault
    during = [o.latency for o in between(outcomes, start, end)]
    assert len(before) > 20
    assert len(during) > 50
    added_p50 = percentile(during, 0.5) - percentile(before, 0.5)
    added_p99 = percentile(during, 0.99) - percentile(before, 0.99)
    assert added_p50 < 0.1, f"{what} added {added_p50 * 1000:.0f} ms to the median read"
    assert added_p99 < 0.25, f"{what} added {added_p99 * 1000:.0f} ms to the p99 read"


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.status not in {200, 304}]


async def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def ready_check(topo: Topology, name: str) -> dict[str, object]:
    """The dependency's state as every instance sees it: ok only when ok everywhere."""
    async with httpx.AsyncClient(timeout=5) as client:
        answers = await asyncio.gather(*(client.get(f"{api.url}/readyz") for api in topo.apis))
    checks = [answer.json()["checks"][name] for answer in answers]
    failing = [check for check in checks if not check["ok"]]
    return failing[0] if failing else checks[0]  # type: ignore[no-any-return]


async def test_redis_killed_and_restarted_empty(topo: Topology) -> None:
    load = load_on(topo)
    await asyncio.sleep(2)
    killed_at = time.monotonic()
    os.kill(topo.redis.pid or 0, signal.SIGKILL)
    topo.redis.process.wait(5)  # type: ignore[union-attr]
    await asyncio.sleep(2)
    topo.redis.start()
    topo.redis.wait_ready()
    back_at = time.monotonic()
    await wait_until(lambda: _ok(ready_check(topo, "redis")), 5, "redis to be reported healthy")
    await asyncio.sleep(3)
    outcomes = await load.stop()
    assert failures(outcomes) == []
    assert_little_added_latency(outcomes, killed_at, back_at, "a dead Redis")
    after = between(outcomes, back_at + 1.5, time.monotonic())
    assert {"redis", "l1"} & {o.cache for o in after}, "the cache did not come back into use"


async def test_redis_blackholed_then_continued(topo: Topology) -> None:
    load = load_on(topo)
    await asyncio.sleep(2)
    paused_at = time.monotonic()
    topo.redis.pause()
    try:
        await asyncio.sleep(0.5)
        # A write while Redis cannot hear about it: its old entry must not come back afterwards.
        async with httpx.AsyncClient(timeout=5) as client:
            written = await client.patch(
                f"{topo.apis[0].url}/api/cities/20", json={"city_name": "Blackhole"}, headers=AUTH
            )
        assert written.status_code == 200
        await asyncio.sleep(2)
    finally:
        topo.redis.resume()
    resumed_at = time.monotonic()
    await asyncio.sleep(3)
    outcomes = await load.stop()
    assert failures(outcomes) == []
    assert_little_added_latency(outcomes, paused_at, resumed_at, "a blackholed Redis")
    async with httpx.AsyncClient(timeout=5) as client:
        for api in topo.apis:
            assert (await client.get(f"{api.url}/api/cities/20")).json()["city_name"] == "Blackhole"


async def test_replica_stopped_and_started(topo: Topology) -> None:
    load = load_on(topo)
    await asyncio.sleep(1)
    stopped_at = time.monotonic()
    topo.replica.stop(mode="immediate")
    await asyncio.sleep(2)
    assert (await ready_check(topo, "replica-1"))["ok"] is False
    topo.replica.start()
    await wait_until(lambda: _ok(ready_check(topo, "replica-1")), 10, "the replica to be routed to again")
    outcomes = await load.stop()
    assert failures(outcomes) == []
    assert between(outcomes, stopped_at, stopped_at + 2)


async def _ok(check: object) -> bool:
    result = await check  # type: ignore[misc]
    return bool(result["ok"])


async def test_lagging_replica_is_skipped_and_reads_stay_fresh(topo: Topology) -> None:
    load = load_on(topo)
    await topo.query_replica("SELECT pg_wal_replay_pause()")
    async with httpx.AsyncClient(timeout=5) as client:
        for n in range(3):  # writes the replica cannot replay: its lag grows past MAX_REPLICA_LAG (1 s)
            assert (
                await client.patch(f"{topo.apis[0].url}/api/cities/30", json={"population": 7000 + n}, headers=AUTH)
            ).status_code == 200
            await asyncio.sleep(0.7)
        await wait_until(lambda: _not_ok(ready_check(topo, "replica-1")), 5, "the replica to be reported lagging")
        assert "lagging" in str((await ready_check(topo, "replica-1"))["detail"])
        for api in topo.apis:
            assert (await client.get(f"{api.url}/api/cities/30")).json()["population"] == 7002
    await topo.query_replica("SELECT pg_wal_replay_resume()")
    await wait_until(lambda: _ok(ready_check(topo, "replica-1")), 10, "the replica to catch up")
    outcomes = await load.stop()
    assert failures(outcomes) == []


async def _not_ok(check: object) -> bool:
    return not await _ok(check)


async def test_primary_down_reads_continue_and_writes_fail_fast(topo: Topology) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        acknowledged = {}
        for city_id in (40, 41, 42):
            response = await client.patch(
                f"{topo.apis[0].url}/api/cities/{city_id}", json={"city_name": f"Before {city_id}"}, headers=AUTH
            )
            assert response.status_code == 200
            acknowledged[city_id] = f"Before {city_id}"
        load = load_on(topo)
        await asyncio.sleep(1)
        down_at = time.monotonic()
        topo.primary.stop(mode="fast")
        await asyncio.sleep(1)
        for _ in range(3):
            started = time.monotonic()
            refused = await client.patch(f"{topo.apis[1].url}/api/cities/43", json={"population": 1}, headers=AUTH)
            assert refused.status_code == 503
            assert refused.headers["retry-after"]
            assert time.monotonic() - started < 1.5, "a write to a dead primary was not refused fast"
        # Reads of data that is not cached come from the replica.
        for city_id in range(1001, 1011):
            assert (await client.get(f"{topo.apis[1].url}/api/cities/{city_id}")).status_code == 200
        await asyncio.sleep(1)
        up_at = time.monotonic()
        topo.primary.start()
        await wait_until(lambda: _ok(ready_check(topo, "primary")), 10, "the primary to be healthy again")
        response = await client.patch(f"{topo.apis[1].url}/api/cities/43", json={"population": 43}, headers=AUTH)
        assert response.status_code == 200
        outcomes = await load.stop()
        assert failures(between(outcomes, down_at, up_at)) == []
        assert failures(outcomes) == []
        for city_id, name in acknowledged.items():
            assert (await client.get(f"{topo.apis[1].url}/api/cities/{city_id}")).json()["city_name"] == name


async def test_every_database_down_serves_stale_cache_and_503_for_misses(short_ttl_topo: Topology) -> None:
    topo = short_ttl_topo
    async with httpx.AsyncClient(timeout=10) as client:
        api = topo.apis[0].url
        cached = await client.get(f"{api}/api/cities/50")
        assert cached.status_code == 200
        topo.primary.stop(mode="immediate")
        topo.replica.stop(mode="immediate")
        await asyncio.sleep(1.5)  # past the freshness of both caches (CACHE_TTL=1): the entry is now stale
        stale = await client.get(f"{api}/api/cities/50")
        assert stale.status_code == 200
        assert stale.content == cached.content
        assert stale.headers["x-cache"] == "stale"
        assert int(stale.headers["age"]) >= 1
        assert stale.headers["warning"].startswith("110")
        # The other instance never read it, but finds it, stale, in Redis.
        other = await client.get(f"{topo.apis[1].url}/api/cities/50")
        assert (other.status_code, other.headers["x-cache"]) == (200, "stale")
        miss = await client.get(f"{api}/api/cities/51")
        assert miss.status_code == 503
        assert miss.headers["retry-after"]
        ready = await client.get(f"{api}/readyz")
        assert ready.status_code == 503
        write = await client.patch(f"{api}/api/cities/50", json={"population": 5}, headers=AUTH)
        assert write.status_code == 503
