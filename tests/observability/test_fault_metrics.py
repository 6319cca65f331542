"""Cache, Redis and replica metrics on the real read path, before and during injected faults.

One instance in front of a primary, a streaming replica and Redis (tests/support/topology.py); each
step injects a fault (replica replay paused, replica stopped, a slow load, Redis blackholed, every
database down) and waits for the matching metric to move.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.observability.scrape import Samples, scrape, value
from tests.support.locks import cities_locked
from tests.support.topology import DB, Topology, topology

pytestmark = pytest.mark.slow


@pytest.fixture
def topo() -> Iterator[Topology]:
    # CACHE_TTL=1 so an entry goes stale within the test; one instance so every counter is in one place.
    with topology(instances=1, seed_limit=500, CACHE_TTL="1") as started:
        yield started


async def _until(client: httpx.AsyncClient, url: str, ok: Callable[[Samples], bool], what: str) -> Samples:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        samples = await scrape(client, url)
        if ok(samples):
            return samples
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_cache_redis_and_replica_metrics_follow_faults(topo: Topology) -> None:
    url = topo.apis[0].url
    requests_total = "cityscale_cache_requests_total"
    async with httpx.AsyncClient(timeout=10) as client:
        start = await _until(
            client, url, lambda s: value(s, "cityscale_db_server_up", pool="replica-1") == 1, "the replica up"
        )
        assert value(start, "cityscale_db_replica_lag_seconds", pool="replica-1") >= 0
        assert value(start, "cityscale_db_replica_lag_limit_seconds") == 1
        assert value(start, "cityscale_breaker_state", breaker="redis") == 0

        # 1. Misses then hits, per layer.
        assert (await client.get(f"{url}/api/cities/10")).status_code == 200
        assert (await client.get(f"{url}/api/cities/10")).status_code == 200
        warm = await scrape(client, url)
        assert value(warm, requests_total, layer="l1", result="miss") >= 1
        assert value(warm, requests_total, layer="redis", result="miss") >= 1
        assert value(warm, requests_total, layer="l1", result="hit") >= 1

        # 2. Replica replay paused (pg_wal_replay_pause) while the primary takes a write: the replica
        #    receives WAL it does not apply, so its lag gauge rises past MAX_REPLICA_LAG (1 s here).
        await topo.query_replica("SELECT pg_wal_replay_pause()")
        try:
            await topo.query_primary("UPDATE cities SET population = population + 1 WHERE id = 1")
            lagging = await _until(
                client,
                url,
                lambda s: value(s, "cityscale_db_replica_lag_seconds", pool="replica-1") > 1.5,
                "the replica's lag to rise",
            )
        finally:
            await topo.query_replica("SELECT pg_wal_replay_resume()")
        assert value(lagging, "cityscale_db_server_up", pool="replica-1") == 1  # lagging, not down
        await _until(
            client, url, lambda s: value(s, "cityscale_db_replica_lag_seconds", pool="replica-1") < 1, "lag to recover"
        )

        # 3. Replica down: the monitor reports it and its breaker trips; reads fall back to the primary.
        topo.replica.stop(mode="immediate")
        down = await _until(
            client, url, lambda s: value(s, "cityscale_db_server_up", pool="replica-1") == 0, "replica down"
        )
        assert value(down, "cityscale_db_server_up", pool="primary") == 1
        await _until(
            client, url, lambda s: value(s, "cityscale_breaker_state", breaker="replica-1") >= 1, "replica breaker"
        )

        # 4. A slow load (a session holds a lock the read needs): readers of the same key wait on its
        #    single flight instead of each querying.
        async with cities_locked(topo.primary.url(DB)) as lock:
            first = asyncio.create_task(client.get(f"{url}/api/cities/20"))
            await asyncio.sleep(0.2)
            followers = [asyncio.create_task(client.get(f"{url}/api/cities/20")) for _ in range(3)]
            await asyncio.sleep(0.3)
            await lock.release()
            statuses = [(await task).status_code for task in (first, *followers)]
        assert statuses == [200] * 4
        after_flight = await scrape(client, url)
        assert (
            value(after_flight, "cityscale_cache_singleflight_waits_total")
            - value(down, "cityscale_cache_singleflight_waits_total")
            >= 3
        )

        # 5. Redis blackholed: lookups fail fast, errors counted, the breaker opens.
        topo.redis.pause()
        try:
            for city_id in range(30, 40):
                assert (await client.get(f"{url}/api/cities/{city_id}")).status_code == 200
            outage = await scrape(client, url)
        finally:
            topo.redis.resume()
        assert value(outage, requests_total, layer="redis", result="error") > value(
            after_flight, requests_total, layer="redis", result="error"
        )
        assert value(outage, "cityscale_breaker_state", breaker="redis") >= 1  # open, or half-open by now

        # 6. The primary down too: an entry past its 1 s freshness is served stale.
        assert (await client.get(f"{url}/api/cities/10")).status_code == 200  # fresh copy in L1
        await asyncio.sleep(1.3)
        topo.primary.stop(mode="immediate")
        stale = await client.get(f"{url}/api/cities/10")
        assert stale.status_code == 200
        final = await scrape(client, url)
        assert value(final, "cityscale_cache_stale_served_total") > value(outage, "cityscale_cache_stale_served_total")
        assert value(final, "cityscale_db_query_errors_total") > 0
