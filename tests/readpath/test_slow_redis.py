"""A Redis that answers slowly: bounded cost per read, the breaker stops calling it, recovery.

Redis sits behind the test TCP proxy, whose `slow()` mode holds every answer (requests reach Redis at
once, so Redis's own command counters say what the instances sent).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from cityscale.cache.read_through import Loaded, ReadCache
from cityscale.cache.redis_store import RedisStore
from cityscale.chaos.checks import percentile
from cityscale.stack.redis import RedisServer
from tests.support.load import SteadyLoad, between
from tests.support.servers import running_redis
from tests.support.tcp_proxy import TcpProxy, tcp_proxy
from tests.support.topology import Topology, topology


def proxied_url(proxy: TcpProxy) -> str:
    return f"redis://127.0.0.1:{proxy.port}/0"


async def command_counts(server: RedisServer) -> dict[str, int]:
    client = aioredis.Redis.from_url(server.url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


async def reset_counts(server: RedisServer) -> None:
    client = aioredis.Redis.from_url(server.url)
    try:
        await client.config_resetstat()
    finally:
        await client.aclose()


async def load_row(_: int | None) -> Loaded:
    return Loaded(b'{"id": 1}', 1)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with running_redis("slow") as server:
        yield server


@pytest.fixture
def slow_cache(redis_server: RedisServer) -> Iterator[tuple[ReadCache, TcpProxy]]:
    with tcp_proxy(redis_server.port) as proxy:
        store = RedisStore(proxied_url(proxy))
        # The breaker would hide what one read does on its own: keep it closed for these tests.
        store.breaker.failure_threshold = 1_000_000
        yield ReadCache(store, ttl=30), proxy


async def test_a_miss_pays_one_redis_timeout_and_makes_no_other_call(
    slow_cache: tuple[ReadCache, TcpProxy], redis_server: RedisServer
) -> None:
    cache, proxy = slow_cache
    try:
        assert (await cache.get(cache.item_key(1), load_row)).source == "db"  # connects and loads the scripts
        proxy.slow(0.5)  # well past the 100 ms timeout
        await reset_counts(redis_server)
        assert (await cache.get(cache.item_key(2), load_row)).source == "db"
        await asyncio.sleep(0.6)  # let anything sent reach Redis (the proxy delays only answers, anyway)
        counts = await command_counts(redis_server)
    finally:
        await cache.stop()
    # HELLO and CLIENT SETINFO open a new connection (the timed-out one is dropped): not cache calls.
    ignored = ("config|resetstat", "info", "hello", "client|setinfo")
    sent = {name: calls for name, calls in counts.items() if name not in ignored}
    assert sent == {"get": 1}, f"after its first call timed out, the miss still sent {sent}"


async def test_a_slow_but_answering_redis_costs_one_read_at_most_its_budget(
    slow_cache: tuple[ReadCache, TcpProxy], redis_server: RedisServer
) -> None:
    # 60 ms per answer, under the 100 ms timeout: without a per-read budget a miss would make three calls
    # (get, claim the fill lock, fill) and wait 180 ms; with it, the claim gets the 40 ms left, times out,
    # and the fill is not even tried.
    cache, proxy = slow_cache
    store = cache.redis
    assert store is not None
    try:
        assert (await cache.get(cache.item_key(1), load_row)).source == "db"
        proxy.slow(0.06)
        # A hit needs one call, which fits the budget: the slow Redis is still used.
        cache.l1.clear()
        assert (await cache.get(cache.item_key(1), load_row)).source == "redis"
        await reset_counts(redis_server)
        assert (await cache.get(cache.item_key(2), load_row)).source == "db"
        await asyncio.sleep(0.2)
        counts = await command_counts(redis_server)
    finally:
        await cache.stop()
    # (Commands a script runs count too: the claim's GET and SET NX.) One GET, then the claim; no fill.
    assert counts.get("evalsha") == 1, f"the miss made {counts.get('evalsha')} script calls after its get"
    assert counts.get("get") == 2
    assert store.budget_refusals >= 1


def hot_ids(rng: random.Random) -> str:
    return f"/api/cities/{rng.randint(1, 300)}"


@pytest.fixture
def proxied_topo() -> Iterator[tuple[Topology, TcpProxy]]:
    with topology(instances=0) as topo, tcp_proxy(topo.redis.port) as proxy:
        apis = [topo.start_api(REDIS_URL=proxied_url(proxy)) for _ in range(2)]
        try:
            for api in apis:
                api.wait_ready()
            yield topo, proxy
        finally:
            for api in apis:
                api.stop()


async def redis_breakers(topo: Topology) -> set[float]:
    """The Redis breaker's state on every instance (0 closed, 1 half-open, 2 open)."""
    states = set()
    async with httpx.AsyncClient(timeout=5) as client:
        for api in topo.apis:
            for line in (await client.get(f"{api.url}/metrics")).text.splitlines():
                if line.startswith('cityscale_breaker_state{breaker="redis"}'):
                    states.add(float(line.split()[-1]))
    return states


async def wait_for_breakers(topo: Topology, state: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (seen := await redis_breakers(topo)) != {state}:
        assert time.monotonic() < deadline, f"redis breakers {seen}, expected all {state}"
        await asyncio.sleep(0.1)


async def total_commands(topo: Topology) -> int:
    client = aioredis.Redis.from_url(topo.redis.url)
    try:
        return int((await client.info("stats"))["total_commands_processed"])
    finally:
        await client.aclose()


async def test_slow_redis_reads_from_the_database_and_the_breaker_stops_calling_it(
    proxied_topo: tuple[Topology, TcpProxy],
) -> None:
    topo, proxy = proxied_topo
    load = SteadyLoad([api.url for api in topo.apis], hot_ids, workers=8, max_seconds=60)
    load.start()
    try:
        await asyncio.sleep(3)  # warm-up, then the baseline: the same load with a healthy Redis
        slow_at = time.monotonic()
        proxy.slow(0.5)
        await wait_for_breakers(topo, 2.0, 5)
        # While open, requests do not call Redis: in 2 s of steady load Redis sees only the breakers'
        # trial calls (one per instance every 2 s), the listeners' reconnects and our own INFO.
        await asyncio.sleep(0.5)
        window_start, before = time.monotonic(), await total_commands(topo)
        await asyncio.sleep(2)
        window_end, after = time.monotonic(), await total_commands(topo)
        recovered_at = time.monotonic()
        proxy.restore()
        await wait_for_breakers(topo, 0.0, 10)
        closed_at = time.monotonic()
        await asyncio.sleep(2.5)
    finally:
        outcomes = await load.stop()
    assert [o for o in outcomes if o.status != 200] == []
    in_window = between(outcomes, window_start, window_end)
    assert len(in_window) > 50
    assert after - before <= 20, f"{after - before} Redis commands during {len(in_window)} reads with the breaker open"
    baseline = [o.latency for o in between(outcomes, slow_at - 1.5, slow_at)]
    slow = [o.latency for o in between(outcomes, slow_at, recovered_at)]
    assert len(baseline) > 20
    added = percentile(slow, 0.5) - percentile(baseline, 0.5)
    # About 100 ms at most by design (in fact near zero once the breaker is open); 100 ms of margin for noise.
    assert added < 0.2, f"a slow Redis added {added * 1000:.0f} ms to the median read"
    assert {o.cache for o in between(outcomes, slow_at + 1, recovered_at)} <= {"db", "l1"}
    # Recovered: the breakers closed and reads are served from Redis again.
    assert "redis" in {o.cache for o in between(outcomes, closed_at + 1, time.monotonic())}
