"""TTL jitter: entries filled together expire spread over the documented ±10 %, never outside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from cityscale.cache.entry import CacheEntry
from cityscale.cache.read_through import STALE_FOR, TTL_JITTER, Loaded, ReadCache, jittered
from cityscale.cache.redis_store import RedisStore
from cityscale.stack.redis import RedisServer
from tests.support.servers import running_redis

TTL = 30.0


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with running_redis("jitter") as server:
        yield server


def assert_spread_within(values: list[float], base: float) -> None:
    low, high = base * (1 - TTL_JITTER), base * (1 + TTL_JITTER)
    assert min(values) >= low, f"a TTL of {min(values)} is below the documented minimum {low}"
    assert max(values) <= high, f"a TTL of {max(values)} is above the documented maximum {high}"
    # Spread over the range, not bunched at one value: the lowest and highest quarters are both used.
    width = high - low
    assert min(values) < low + width / 4, f"no TTL in the lowest quarter of [{low}, {high}]: {min(values)}"
    assert max(values) > high - width / 4, f"no TTL in the highest quarter of [{low}, {high}]: {max(values)}"


def test_jittered_stays_within_the_range_and_reaches_its_ends() -> None:
    assert jittered(TTL, -1.0) == pytest.approx(TTL * (1 - TTL_JITTER))
    assert jittered(TTL, 1.0) == pytest.approx(TTL * (1 + TTL_JITTER))
    assert jittered(TTL, 0.0) == TTL
    # A spread outside [-1, 1] is clamped, never stretching the range.
    assert jittered(TTL, -7.0) == pytest.approx(TTL * (1 - TTL_JITTER))
    assert jittered(TTL, 7.0) == pytest.approx(TTL * (1 + TTL_JITTER))


def test_freshness_of_entries_filled_at_different_moments_is_spread() -> None:
    cache = ReadCache(None, ttl=TTL)
    # Entries filled one millisecond apart over 3 s, as a burst of fills would be.
    fresh_for = [cache._fresh_for(CacheEntry(b"x", 1_800_000_000.0 + n / 1000, 0)) for n in range(3000)]
    assert_spread_within(fresh_for, TTL)
    assert len({round(value, 3) for value in fresh_for}) > 100, "freshness is not jittered"
    # Derived from the entry: every instance computes the same freshness for the same entry.
    entry = CacheEntry(b"x", 1_800_000_000.123, 0)
    assert ReadCache(None, ttl=TTL)._fresh_for(entry) == cache._fresh_for(entry)


async def test_redis_expiry_of_filled_entries_is_spread(redis_server: RedisServer) -> None:
    cache = ReadCache(RedisStore(redis_server.url), ttl=TTL)

    async def load(_: int | None) -> Loaded:
        return Loaded(b'{"id": 1}', 1)

    client = aioredis.Redis.from_url(redis_server.url)
    try:
        for city_id in range(200):
            assert (await cache.get(cache.item_key(city_id), load)).source == "db"
        keys = [key async for key in client.scan_iter(match="cs:v1:g*:item:*")]
        assert len(keys) == 200
        expiries = [await client.pttl(key) / 1000 for key in keys]
    finally:
        await client.aclose()
        await cache.stop()
    # Redis keeps an entry for its freshness plus the stale-if-error window, jittered alike. PTTL is
    # read a little after the fill, so allow the time the test took (well under a second) below the minimum.
    kept = TTL + STALE_FOR
    assert min(expiries) >= kept * (1 - TTL_JITTER) - 5
    assert max(expiries) <= kept * (1 + TTL_JITTER)
    assert min(expiries) < kept * (1 - TTL_JITTER / 2), "no entry expires in the lower half of the range"
    assert max(expiries) > kept * (1 + TTL_JITTER / 2), "no entry expires in the upper half of the range"
