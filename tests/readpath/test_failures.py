"""DESIGN.md's failure table, one row per test, each under a steady stream of concurrent reads."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

import httpx

from cityscale.chaos.checks import percentile
from tests.readpath.probes import AUTH, is_not_ok, is_ok, read_your_writes, ready_check, wait_until
from tests.support.load import Outcome, SteadyLoad, between
from tests.support.topology import Topology

# Written and read back by the read-your-writes client of each test: outside the load's hot ids.
RYW_CITY = 2500


def hot_ids(rng: random.Random) -> str:
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


async def test_redis_killed_and_restarted_empty(topo: Topology) -> None:
    load = load_on(topo)
    async with read_your_writes(topo, RYW_CITY) as ryw:
        await asyncio.sleep(2)
        killed_at = time.monotonic()
        os.kill(topo.redis.pid or 0, signal.SIGKILL)
        # Blocking waits in a thread: a blocked event loop would stall the load and inflate its latencies.
        await asyncio.to_thread(topo.redis.process.wait, 5)  # type: ignore[union-attr]
        await asyncio.sleep(2)
        await asyncio.to_thread(topo.redis.start)
        await asyncio.to_thread(topo.redis.wait_ready)
        back_at = time.monotonic()
        await wait_until(lambda: is_ok(topo, "redis"), 5, "redis to be reported healthy")
        await asyncio.sleep(3)
    outcomes = await load.stop()
    assert failures(outcomes) == []
    assert_little_added_latency(outcomes, killed_at, back_at, "a dead Redis")
    after = between(outcomes, back_at + 1.5, time.monotonic())
    assert {"redis", "l1"} & {o.cache for o in after}, "the cache did not come back into use"
    assert ryw.write_failures == []
    ryw.assert_never_stale()


async def test_redis_blackholed_then_continued(topo: Topology) -> None:
    load = load_on(topo)
    async with read_your_writes(topo, RYW_CITY) as ryw:
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
    assert ryw.write_failures == []
    ryw.assert_never_stale()


async def test_replica_stopped_and_started(topo: Topology) -> None:
    """Reads and read-your-writes through the outage; probing back in: tests/readpath/test_replicas.py."""
    load = load_on(topo)
    async with read_your_writes(topo, RYW_CITY) as ryw:
        await asyncio.sleep(1)
        stopped_at = time.monotonic()
        await asyncio.to_thread(topo.replica.stop, mode="immediate")
        await asyncio.sleep(2)
        assert (await ready_check(topo, "replica-1"))["ok"] is False
        await asyncio.to_thread(topo.replica.start)
        await wait_until(lambda: is_ok(topo, "replica-1"), 10, "the replica to be routed to again")
        await asyncio.sleep(1)
    outcomes = await load.stop()
    assert failures(outcomes) == []
    assert between(outcomes, stopped_at, stopped_at + 2)
    assert ryw.write_failures == []
    ryw.assert_never_stale()


async def test_lagging_replica_is_skipped_and_reads_stay_fresh(topo: Topology) -> None:
    """Token-less reads past the lag limit: tests/readpath/test_replicas.py. Here: the writer's own reads."""
    load = load_on(topo)
    async with read_your_writes(topo, RYW_CITY) as ryw:
        await asyncio.sleep(1)
        await topo.query_replica("SELECT pg_wal_replay_pause()")
        try:
            # The writer's own writes are ones the replica cannot replay: its lag grows past MAX_REPLICA_LAG.
            await wait_until(lambda: is_not_ok(topo, "replica-1"), 10, "the replica to be reported lagging")
            assert "lagging" in str((await ready_check(topo, "replica-1"))["detail"])
            await asyncio.sleep(1)
        finally:
            await topo.query_replica("SELECT pg_wal_replay_resume()")
        await wait_until(lambda: is_ok(topo, "replica-1"), 10, "the replica to catch up")
        await asyncio.sleep(1)
    outcomes = await load.stop()
    assert failures(outcomes) == []
    assert ryw.write_failures == []
    ryw.assert_never_stale()


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
        await asyncio.to_thread(topo.primary.stop, mode="fast")
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
        await asyncio.to_thread(topo.primary.start)
        await wait_until(lambda: is_ok(topo, "primary"), 10, "the primary to be healthy again")
        response = await client.patch(f"{topo.apis[1].url}/api/cities/43", json={"population": 43}, headers=AUTH)
        assert response.status_code == 200
        outcomes = await load.stop()
        assert failures(between(outcomes, down_at, up_at)) == []
        assert failures(outcomes) == []
        for city_id, name in acknowledged.items():
            assert (await client.get(f"{topo.apis[1].url}/api/cities/{city_id}")).json()["city_name"] == name


WARM_ITEMS = [f"/api/cities/{city_id}" for city_id in range(50, 60)]
WARM_LISTS = ["/api/cities?limit=50", "/api/cities?limit=10&min_population=100000"]


async def test_every_database_down_serves_stale_cache_and_503_for_misses(short_ttl_topo: Topology) -> None:
    topo = short_ttl_topo
    async with httpx.AsyncClient(timeout=10) as client:
        acknowledged: dict[int, str] = {}
        for city_id in (50, 51, 52):
            written = await client.patch(
                f"{topo.apis[0].url}/api/cities/{city_id}", json={"city_name": f"Acked {city_id}"}, headers=AUTH
            )
            assert written.status_code == 200
            acknowledged[city_id] = f"Acked {city_id}"
        client.cookies.clear()
        await asyncio.sleep(1.2)  # the replica has the writes and the writer's cookie has no say below
        cached: dict[str, bytes] = {}
        for path in WARM_ITEMS + WARM_LISTS:
            for api in topo.apis:
                answer = await client.get(f"{api.url}{path}")
                assert answer.status_code == 200
                cached[path] = answer.content
        # Steady load over what is cached only: every one of these reads can be served.
        load = SteadyLoad(
            [api.url for api in topo.apis], lambda rng: rng.choice(WARM_ITEMS + WARM_LISTS), workers=8, max_seconds=60
        )
        load.start()
        await asyncio.sleep(1)
        down_at = time.monotonic()
        # In threads: the load's event loop keeps running while the servers stop and start.
        await asyncio.gather(
            asyncio.to_thread(topo.primary.stop, mode="immediate"),
            asyncio.to_thread(topo.replica.stop, mode="immediate"),
        )
        # Past the freshness of everything loaded before the stop: up to CACHE_TTL (1 s) + 10 % jitter in Redis,
        # then CACHE_L1_TTL (1 s) more in an instance that copied it from Redis at the last moment.
        await asyncio.sleep(2.5)
        stale_from = time.monotonic()
        for path in (WARM_ITEMS[0], WARM_LISTS[0], WARM_LISTS[1]):
            for api in topo.apis:
                stale = await client.get(f"{api.url}{path}")
                assert stale.status_code == 200, path
                assert stale.content == cached[path]
                assert stale.headers["x-cache"] == "stale"
                assert int(stale.headers["age"]) >= 1
                assert stale.headers["warning"].startswith("110")
        for miss_path in ("/api/cities/61", "/api/cities?limit=7"):
            miss = await client.get(f"{topo.apis[0].url}{miss_path}")
            assert miss.status_code == 503, miss_path
            assert int(miss.headers["retry-after"]) >= 1
        ready = await client.get(f"{topo.apis[0].url}/readyz")
        assert ready.status_code == 503
        write = await client.patch(f"{topo.apis[0].url}/api/cities/50", json={"population": 5}, headers=AUTH)
        assert write.status_code == 503
        assert int(write.headers["retry-after"]) >= 1
        await asyncio.sleep(1)
        up_at = time.monotonic()
        await asyncio.gather(asyncio.to_thread(topo.primary.start), asyncio.to_thread(topo.replica.start))
        await wait_until(lambda: is_ok(topo, "primary"), 15, "the primary to be healthy again")
        await wait_until(lambda: is_ok(topo, "replica-1"), 15, "the replica to be healthy again")
        # Writes recover, and a write after the outage is what everyone reads (no stale entry wins).
        written = await client.patch(
            f"{topo.apis[1].url}/api/cities/53", json={"city_name": "After the outage"}, headers=AUTH
        )
        assert written.status_code == 200
        acknowledged[53] = "After the outage"
        client.cookies.clear()
        await asyncio.sleep(1.5)  # past CACHE_TTL and the replica's catch-up
        outcomes = await load.stop()
        # Reads answered entirely while both databases were down and the entries past their freshness.
        during = [o for o in between(outcomes, stale_from, up_at) if o.at + o.latency < up_at]
        assert len(during) > 50
        assert between(outcomes, down_at, stale_from), "no read ran while the databases went down"
        assert failures(outcomes) == [], "a read that a cached entry could serve failed"
        assert {o.cache for o in during} == {"stale"}, [
            (round(o.at - up_at, 2), round(o.latency, 2), o.cache, o.path) for o in during if o.cache != "stale"
        ][:10]
        assert {o.cache for o in between(outcomes, time.monotonic() - 1, time.monotonic())} - {"stale"}
        rows = await topo.query_primary("SELECT id, city_name FROM cities WHERE id BETWEEN 50 AND 59")
        names = {row["id"]: row["city_name"] for row in rows}
        for city_id, name in acknowledged.items():
            assert names[city_id] == name
        for api in topo.apis:
            for city_id, name in names.items():
                answer = await client.get(f"{api.url}/api/cities/{city_id}")
                assert answer.status_code == 200
                assert answer.headers["x-cache"] != "stale"
                assert answer.json()["city_name"] == name, "a stale cache entry outlived the recovery"
            for path in WARM_LISTS:
                answer = await client.get(f"{api.url}{path}")
                assert (answer.status_code, answer.headers["x-cache"] != "stale") == (200, True)
