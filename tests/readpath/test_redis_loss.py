"""Redis holds only cache: flushing it or restarting it empty loses no acknowledged write, and the
instances stay coherent afterwards (their key versions do not get stuck ahead of a Redis that forgot them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import redis

from tests.support.topology import API_TOKEN, Topology

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
IDS = range(60, 66)


async def write_all(url: str, label: str) -> dict[int, str]:
    acknowledged = {}
    async with httpx.AsyncClient(timeout=10) as writer:  # its own client: no read-your-writes cookie for readers
        for city_id in IDS:
            name = f"{label} {city_id}"
            response = await writer.patch(f"{url}/api/cities/{city_id}", json={"city_name": name}, headers=AUTH)
            assert response.status_code == 200
            acknowledged[city_id] = name
    return acknowledged


async def assert_readable_everywhere(topo: Topology, acknowledged: dict[int, str], within: float) -> None:
    """Every instance answers every acknowledged value, for the item and on the list page, within `within`."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=10) as reader:
        for api in topo.apis:
            while True:
                items = {
                    city_id: (await reader.get(f"{api.url}/api/cities/{city_id}")).json()["city_name"]
                    for city_id in acknowledged
                }
                page = (await reader.get(f"{api.url}/api/cities", params={"limit": 100})).json()
                listed = {c["id"]: c["city_name"] for c in page if c["id"] in acknowledged}
                if items == acknowledged and listed == acknowledged:
                    break
                assert time.monotonic() < deadline, f"{api.url} answers {items} / {listed}, not {acknowledged}"
                await asyncio.sleep(0.05)


async def replica_caught_up(topo: Topology, acknowledged: dict[int, str]) -> None:
    """Wait (bounded) until the replica has replayed the writes, so a test starts from a settled state; the
    race of a lagging replica with a loss of Redis has a test of its own (the last one here)."""
    deadline = time.monotonic() + 10
    while True:
        rows = await topo.query_replica(
            "SELECT id, city_name FROM cities WHERE id = ANY($1::int[])", list(acknowledged)
        )
        if {row["id"]: row["city_name"] for row in rows} == acknowledged:
            return
        assert time.monotonic() < deadline, "the replica did not replay the writes"
        await asyncio.sleep(0.05)


async def fill_caches(topo: Topology) -> None:
    async with httpx.AsyncClient(timeout=10) as reader:
        for api in topo.apis:
            for _ in range(2):
                for city_id in IDS:
                    assert (await reader.get(f"{api.url}/api/cities/{city_id}")).status_code == 200
                assert (await reader.get(f"{api.url}/api/cities", params={"limit": 100})).status_code == 200


async def check_loss(topo: Topology, lose_redis: Callable[[], Awaitable[None]]) -> None:
    one = topo.apis[0].url
    for round_ in range(3):  # several writes, so the instances' list version is well ahead of zero
        acknowledged = await write_all(one, f"Before {round_}")
    await replica_caught_up(topo, acknowledged)
    await fill_caches(topo)
    await lose_redis()
    # Nothing acknowledged is lost: everything comes back from the database.
    await assert_readable_everywhere(topo, acknowledged, within=2.0)
    # Caches refilled after the loss, then written through again: every instance sees the new values as
    # fast as in normal operation (the invalidation message; 1 s L1 freshness at most).
    await fill_caches(topo)
    after = await write_all(one, "After")
    await assert_readable_everywhere(topo, after, within=2.0)


async def test_flushall_loses_nothing_and_keeps_instances_coherent(topo: Topology) -> None:
    async def flush() -> None:
        client = redis.Redis.from_url(topo.redis.url)
        try:
            client.flushall()
        finally:
            client.close()

    await check_loss(topo, flush)


async def test_redis_restarted_empty_loses_nothing_and_keeps_instances_coherent(topo: Topology) -> None:
    async def restart() -> None:
        topo.redis.stop()
        topo.redis.start()
        topo.redis.wait_ready()
        await asyncio.sleep(1.5)  # the instances' breakers and invalidation listeners reconnect

    await check_loss(topo, restart)


async def test_an_instance_started_after_a_flush_hands_out_versions_the_others_accept(topo: Topology) -> None:
    # The instances write back the versions a flushed Redis forgot, so a newcomer, which learns its
    # versions from Redis, does not invalidate under a list version the others already went past.
    one = topo.apis[0].url
    for round_ in range(3):
        acknowledged = await write_all(one, f"Before {round_}")
    await replica_caught_up(topo, acknowledged)
    client = redis.Redis.from_url(topo.redis.url)
    try:
        client.flushall()
    finally:
        client.close()
    await asyncio.sleep(1.5)  # the instances' 1 s poll of the versions
    newcomer = topo.start_api()
    try:
        newcomer.wait_ready()
        await fill_caches(topo)
        after = await write_all(newcomer.url, "From the newcomer")
        await assert_readable_everywhere(topo, after, within=2.0)
    finally:
        newcomer.stop()


async def test_a_read_from_a_lagging_replica_just_after_a_flush_is_not_cached(topo: Topology) -> None:
    # The flush drops the write's tombstone in Redis; the instances' own record of the write (from its
    # invalidation message) must still refuse to cache the older value a lagging replica returns.
    one, two = (api.url for api in topo.apis)
    await write_all(one, "Recent")  # so the replica's last replayed transaction is young: its lag reads small
    await replica_caught_up(topo, {city_id: f"Recent {city_id}" for city_id in IDS})
    await topo.query_replica("SELECT pg_wal_replay_pause()")
    try:
        async with httpx.AsyncClient(timeout=10) as writer:
            written = await writer.patch(f"{one}/api/cities/61", json={"city_name": "Unreplayed"}, headers=AUTH)
        assert written.status_code == 200
        client = redis.Redis.from_url(topo.redis.url)
        try:
            client.flushall()
        finally:
            client.close()
        async with httpx.AsyncClient(timeout=10) as reader:
            seen = [(await reader.get(f"{two}/api/cities/61")).json()["city_name"] for _ in range(5)]
        # The precondition: the replica (lag still under MAX_REPLICA_LAG) answered with the old value.
        assert "Recent 61" in seen, f"no read reached the lagging replica: {seen}"
    finally:
        await topo.query_replica("SELECT pg_wal_replay_resume()")
    await replica_caught_up(topo, {61: "Unreplayed"})
    # Nothing kept the old value: at most the L1's 1 s, never Redis's 30 s.
    await assert_item_everywhere(topo, 61, "Unreplayed", within=2.0)


async def assert_item_everywhere(topo: Topology, city_id: int, name: str, within: float) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=10) as reader:
        for api in topo.apis:
            while (seen := (await reader.get(f"{api.url}/api/cities/{city_id}")).json()["city_name"]) != name:
                assert time.monotonic() < deadline, f"{api.url} still answers {seen!r}, not {name!r}"
                await asyncio.sleep(0.05)
