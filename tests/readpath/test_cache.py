"""Cache-aside with real Redis and two instances: hits, stampedes, invalidation, read-your-writes."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import redis

from tests.support.topology import API_TOKEN, Topology

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ITEM_QUERY_CALLS = "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '%row_to_json(c)%id = $1%'"


def test_reads_come_from_l1_then_redis_then_the_database(topo: Topology) -> None:
    one, two = (api.url for api in topo.apis)
    first = httpx.get(f"{one}/api/cities/5")
    assert (first.status_code, first.headers["x-cache"]) == (200, "db")
    assert httpx.get(f"{one}/api/cities/5").headers["x-cache"] == "l1"
    assert httpx.get(f"{two}/api/cities/5").headers["x-cache"] == "redis"
    again = httpx.get(f"{two}/api/cities/5")
    assert again.headers["x-cache"] == "l1"
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    missing = httpx.get(f"{one}/api/cities/999999")
    assert missing.status_code == 404
    assert httpx.get(f"{two}/api/cities/999999").status_code == 404  # the miss is cached too, and still a 404


async def test_a_stampede_across_two_instances_costs_one_query_in_total(topo: Topology) -> None:
    # Single-flight within each instance, and across them the short Redis fill lock: the instance that
    # loses it waits for the winner's entry instead of querying too. Three rounds, three cold keys.
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200), timeout=10) as client:
        # Warm up first: a cold instance opens a Redis connection per concurrent request, and under a burst
        # of 100 on this 2-core box those connects overrun the 100 ms Redis timeout; a request whose Redis
        # call failed goes to the database without the lock (by design: one Redis timeout per request).
        # One key for all of them: the burst opens the connections without exhausting the database pool.
        warm = [f"{topo.apis[i % 2].url}/api/cities/1000" for i in range(200)]
        assert {r.status_code for r in await asyncio.gather(*(client.get(url) for url in warm))} == {200}
        for city_id in (7, 17, 27):
            for query in (topo.query_primary, topo.query_replica):
                await query("SELECT pg_stat_statements_reset()")
            urls = [f"{topo.apis[i % 2].url}/api/cities/{city_id}" for i in range(200)]
            responses = await asyncio.gather(*(client.get(url) for url in urls))
            assert {r.status_code for r in responses} == {200}
            assert len({r.content for r in responses}) == 1
            calls = 0
            for query in (topo.query_primary, topo.query_replica):
                calls += int((await query(ITEM_QUERY_CALLS))[0][0])
            assert calls == 1, f"{calls} database queries for 200 concurrent misses of city {city_id}"
            sources = {r.headers["x-cache"] for r in responses}
            assert "db" in sources


def test_a_miss_costs_three_redis_calls_and_leaves_no_lock(topo: Topology) -> None:
    # GET (miss), a script that takes the fill lock unless the entry appeared meanwhile, then one script
    # that stores the entry and releases the lock.
    client = redis.Redis.from_url(topo.redis.url)
    httpx.get(f"{topo.apis[0].url}/api/cities/10")  # the first fill loads the script into Redis
    seen: list[str] = []
    with client.monitor() as monitor:

        def watch() -> None:
            for command in monitor.listen():
                if command["command"] == "ECHO end-of-test":
                    return
                if command.get("client_type") != "lua" and "MONITOR" not in command["command"]:
                    seen.append(command["command"].split()[0].upper())

        watcher = threading.Thread(target=watch)
        watcher.start()
        assert httpx.get(f"{topo.apis[0].url}/api/cities/11").headers["x-cache"] == "db"
        redis.Redis.from_url(topo.redis.url).echo("end-of-test")
        watcher.join(timeout=10)
    assert [c for c in seen if c not in ("HELLO", "CLIENT", "ECHO")] == ["GET", "EVALSHA", "EVALSHA"], seen
    assert client.keys("*lock*") == []
    client.close()


async def test_a_write_is_visible_everywhere_at_once(topo: Topology) -> None:
    one, two = (api.url for api in topo.apis)
    async with httpx.AsyncClient(timeout=10) as client:
        before = (await client.get(f"{two}/api/cities/9")).json()
        page = (await client.get(f"{two}/api/cities", params={"limit": 20})).json()
        assert before in page
        assert (await client.get(f"{two}/api/cities/9")).headers["x-cache"] == "l1"
        patched = await client.patch(f"{one}/api/cities/9", json={"city_name": "Renamed 9"}, headers=AUTH)
        assert patched.status_code == 200
        token = patched.headers["x-cityscale-lsn"]
        assert "cityscale_lsn=" in patched.headers["set-cookie"]
        # With the token, instantly, whatever the caches hold.
        fresh = await client.get(f"{two}/api/cities/9", headers={"X-Cityscale-LSN": token})
        assert fresh.json()["city_name"] == "Renamed 9"
        # Without it, as soon as the invalidation message arrives (bounded by the L1's 1 s freshness).
        deadline = time.monotonic() + 1.5
        while (await client.get(f"{two}/api/cities/9")).json()["city_name"] != "Renamed 9":
            assert time.monotonic() < deadline, "a stale item outlived the invalidation bound"
            await asyncio.sleep(0.05)
        while "Renamed 9" not in {c["city_name"] for c in (await client.get(f"{two}/api/cities?limit=20")).json()}:
            assert time.monotonic() < deadline, "a stale list page outlived the invalidation bound"
            await asyncio.sleep(0.05)


async def test_read_your_writes_with_a_lagging_replica(topo: Topology) -> None:
    await topo.query_replica("SELECT pg_wal_replay_pause()")
    one, two = (api.url for api in topo.apis)
    # A client that keeps cookies (like a browser) gets read-your-writes without doing anything.
    async with httpx.AsyncClient(timeout=10) as client:
        for n in range(5):
            written = await client.patch(f"{one}/api/cities/11", json={"population": 1000 + n}, headers=AUTH)
            assert written.status_code == 200
            seen = await client.get(f"{two}/api/cities/11")
            assert seen.json()["population"] == 1000 + n
            listed = await client.get(f"{two}/api/cities", params={"limit": 20})
            assert {c["id"]: c["population"] for c in listed.json()}[11] == 1000 + n
    replica_value = await topo.query_replica("SELECT population FROM cities WHERE id = 11")
    assert replica_value[0][0] != 1004  # the replica really was behind: the reads above came from the primary
    await topo.query_replica("SELECT pg_wal_replay_resume()")


def test_a_malformed_token_is_a_400(topo: Topology) -> None:
    response = httpx.get(f"{topo.apis[0].url}/api/cities/1", headers={"X-Cityscale-LSN": "0/16B3748"})
    assert response.status_code == 400
    assert "X-Cityscale-LSN" in response.json()["detail"]
