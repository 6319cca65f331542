"""Cache coherence across two instances: pub/sub invalidation, and invalidating only what a write changed.

The L1 here stays fresh for 30 s, so only the invalidation message (not the L1's expiry, nor the 1 s
poll of the key versions, which never touches item entries) can explain an instance dropping an item.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.support.topology import API_TOKEN, Topology, topology

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ITEM_QUERY_CALLS = "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '%row_to_json(c)%id = $1%'"
L1_TTL = 30.0


@pytest.fixture
def long_l1_topo() -> Iterator[Topology]:
    with topology(CACHE_TTL="60", CACHE_L1_TTL=str(L1_TTL)) as started:
        yield started


async def item_queries(topo: Topology) -> int:
    calls = 0
    for query in (topo.query_primary, topo.query_replica):
        calls += int((await query(ITEM_QUERY_CALLS))[0][0])
    return calls


async def write(url: str, city_id: int, name: str) -> None:
    # A client of its own: the read-your-writes cookie must not reach the readers below, or their reads
    # would skip the caches for a reason that has nothing to do with invalidation.
    async with httpx.AsyncClient(timeout=10) as writer:
        written = await writer.patch(f"{url}/api/cities/{city_id}", json={"city_name": name}, headers=AUTH)
    assert written.status_code == 200


async def test_a_write_on_one_instance_drops_the_item_from_the_other_instances_l1(long_l1_topo: Topology) -> None:
    topo = long_l1_topo
    one, two = (api.url for api in topo.apis)
    async with httpx.AsyncClient(timeout=10) as reader:
        before = await reader.get(f"{two}/api/cities/9")
        assert before.status_code == 200
        held = await reader.get(f"{two}/api/cities/9")
        assert (held.headers["x-cache"], held.json()) == ("l1", before.json())
        await write(one, 9, "Renamed via one")
        written_at = time.monotonic()
        # Well under the L1's 30 s freshness: only the pub/sub message can have dropped the entry.
        deadline = written_at + 2.0
        while True:
            seen = await reader.get(f"{two}/api/cities/9")
            if seen.json()["city_name"] == "Renamed via one":
                break
            assert time.monotonic() < deadline, "instance two kept its L1 entry after instance one's write"
            await asyncio.sleep(0.02)
        assert seen.headers["x-cache"] != "l1"
        # And it caches the new value (once its data is known to be at least as new as the write).
        while (again := await reader.get(f"{two}/api/cities/9")).headers["x-cache"] != "l1":
            assert time.monotonic() < deadline + 2.0, "instance two never cached the new value"
            await asyncio.sleep(0.02)
        assert again.json()["city_name"] == "Renamed via one"


async def test_a_write_leaves_other_items_cached_everywhere(long_l1_topo: Topology) -> None:
    topo = long_l1_topo
    one, two = (api.url for api in topo.apis)
    async with httpx.AsyncClient(timeout=10) as reader:
        for url in (one, two):
            for city_id in (12, 13):
                assert (await reader.get(f"{url}/api/cities/{city_id}")).status_code == 200
                assert (await reader.get(f"{url}/api/cities/{city_id}")).headers["x-cache"] == "l1"
        for query in (topo.query_primary, topo.query_replica):
            await query("SELECT pg_stat_statements_reset()")
        await write(one, 12, "Only twelve changed")
        # Item 12 leaves instance two's L1 (the message arrived) ...
        deadline = time.monotonic() + 2.0
        while (await reader.get(f"{two}/api/cities/12")).json()["city_name"] != "Only twelve changed":
            assert time.monotonic() < deadline, "the write's invalidation never reached instance two"
            await asyncio.sleep(0.02)
        queries_for_twelve = await item_queries(topo)
        assert queries_for_twelve >= 1
        # ... while item 13 stays in both L1s and in Redis, and is served without a database query.
        for url in (one, two):
            kept = await reader.get(f"{url}/api/cities/13")
            assert kept.headers["x-cache"] == "l1", f"{url}: item 13 was dropped by a write to item 12"
        client = redis.Redis.from_url(topo.redis.url)
        try:
            assert client.keys("cs:v1:g*:item:13"), "item 13's Redis entry was dropped by a write to item 12"
            assert not client.keys("cs:v1:g*:item:12") or (
                b"Only twelve changed" in (client.get(client.keys("cs:v1:g*:item:12")[0]) or b"")
            )
        finally:
            client.close()
        assert await item_queries(topo) == queries_for_twelve, "item 13 was read from the database again"
