"""Redis as the shared cache: bounded calls behind a circuit breaker, writes guarded by tombstones.

Every call is bounded by a short timeout (`REDIS_TIMEOUT`, 100 ms) and by what is left of the read's
budget (cache/budget.py): a Redis that is down, slow or blackholed costs at most about 100 ms per
request, and after a few failures the breaker stops calling it.

Consistency rules (docs/caching.md):
- An entry carries the LSN its data is at least as new as. A write records a tombstone (its commit
  LSN) for what it changed; `fill` refuses to store data older than the tombstone, so a slow reader
  cannot put back the value a write just invalidated.
- Lists are invalidated as a whole by bumping a version that is part of every list key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cityscale.breaker import CircuitBreaker
from cityscale.cache.budget import current_budget
from cityscale.cache.entry import CacheEntry

REDIS_TIMEOUT = 0.1
PREFIX = "cs:v1:"
CHANNEL = PREFIX + "invalidate"
LIST_VERSION_KEY = PREFIX + "listver"
GENERATION_KEY = PREFIX + "gen"
LIST_TOMBSTONE = PREFIX + "tomb:lists"
T = TypeVar("T")

# Store an entry unless a write newer than its data happened since (KEYS: entry, tombstones..., then the
# fill lock when ARGV[4] is "1": released in the same round trip, so a miss costs one call fewer).
_GUARDED_SET = """
local entry_lsn = tonumber(ARGV[2])
local last = #KEYS
if ARGV[4] == '1' then
  redis.call('DEL', KEYS[last])
  last = last - 1
end
for i = 2, last do
  local tomb = tonumber(redis.call('GET', KEYS[i]) or '-1')
  if tomb > entry_lsn then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""

# A write's invalidation, atomically: drop the item, record tombstones, bump the list version, tell everyone.
# KEYS: item key, item tombstone, list tombstone, list version; ARGV: lsn, tombstone ttl ms, item id, channel,
# the caller's list version. The new version is above both Redis's and the caller's: a flushed or restarted
# Redis forgot its counter, and restarting it at 1 would give versions the instances already went past
# (they ignore a version below theirs), so their list pages would stay cached under their old version.
_INVALIDATE = """
local lsn = tonumber(ARGV[1])
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  local old = tonumber(redis.call('GET', KEYS[i]) or '-1')
  if lsn > old then redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
local version = math.max(tonumber(redis.call('GET', KEYS[4]) or '0'), tonumber(ARGV[5])) + 1
redis.call('SET', KEYS[4], version)
redis.call('PUBLISH', ARGV[4], 'item:' .. ARGV[3] .. ' lists:' .. version .. ' lsn:' .. ARGV[1])
return version
"""


# The fill lock of a missed key, unless its entry appeared meanwhile (KEYS: entry, lock; ARGV: lock ttl ms).
# Returns the entry's bytes, 1 (lock taken) or 0 (another instance holds it).
_GET_OR_LOCK = """
local value = redis.call('GET', KEYS[1])
if value then return value end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""


# KEYS: generation, list version; ARGV: the caller's generation, channel. Returns {generation, list version}.
_BUMP_GENERATION = """
local generation = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(ARGV[1])) + 1
redis.call('SET', KEYS[1], generation)
redis.call('PUBLISH', ARGV[2], 'gen:' .. generation)
return {generation, tonumber(redis.call('GET', KEYS[2]) or '0')}
"""

# KEYS: generation, list version; ARGV: at least these values.
_RAISE_VERSIONS = """
for i = 1, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') < tonumber(ARGV[i]) then redis.call('SET', KEYS[i], ARGV[i]) end
end
return 1
"""


class RedisUnavailableError(RuntimeError):
    """Redis is down, slow or refused by the breaker; callers fall back to the database."""


class RedisStore:
    def __init__(self, url: str, *, timeout: float = REDIS_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self.breaker = CircuitBreaker("redis", failure_threshold=3, reset_after=2.0)
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False,
            max_connections=256, health_check_interval=0,
        )  # fmt: skip
        self._guarded_set = self.client.register_script(_GUARDED_SET)
        self._invalidate = self.client.register_script(_INVALIDATE)
        self._get_or_lock = self.client.register_script(_GET_OR_LOCK)
        self._bump = self.client.register_script(_BUMP_GENERATION)
        self._raise = self.client.register_script(_RAISE_VERSIONS)
        self.errors = 0
        self.budget_refusals = 0  # calls not made because the request's Redis budget was spent

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        budget = current_budget()
        timeout = self.timeout if budget is None else min(self.timeout, budget.left)
        if timeout <= 0:
            # Not Redis's failure as such (the time went on earlier calls): no breaker failure for it.
            self.budget_refusals += 1
            raise RedisUnavailableError("this request's redis budget is spent")
        if not self.breaker.allow():
            raise RedisUnavailableError("redis breaker open")
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                result = await operation()
        except (RedisError, OSError, TimeoutError) as exc:
            self.breaker.failed()
            self.errors += 1
            if budget is not None:
                budget.exhaust()  # one failed call per request: the rest of it goes without Redis
            raise RedisUnavailableError(f"redis: {type(exc).__name__}: {exc}") from None
        finally:
            if budget is not None:
                budget.spend(started)
        self.breaker.succeeded()
        return result

    async def get(self, key: str) -> CacheEntry | None:
        raw = await self._call(lambda: self.client.get(key))
        return CacheEntry.decode(raw) if isinstance(raw, bytes) else None

    async def fill(
        self, key: str, entry: CacheEntry, *, ttl: float, tombstones: list[str], release_lock: str | None = None
    ) -> bool:
        """Store `entry` for `ttl` seconds unless a tombstone says a newer write happened; release the
        fill lock `release_lock` in the same call when given."""
        keys: list[Any] = [key, *tombstones] + ([release_lock] if release_lock else [])
        args: list[Any] = [entry.encode(), entry.lsn, max(1, int(ttl * 1000)), "1" if release_lock else "0"]
        stored = await self._call(lambda: self._guarded_set(keys=keys, args=args))
        return bool(stored)

    async def invalidate_write(
        self, item_key: str, item_tombstone: str, city_id: int, lsn: int, tombstone_ttl: float, *, list_version: int
    ) -> int:
        """Apply a write's invalidation; returns the new list version (above `list_version`, the caller's)."""
        keys: list[Any] = [item_key, item_tombstone, LIST_TOMBSTONE, LIST_VERSION_KEY]
        args: list[Any] = [lsn, int(tombstone_ttl * 1000), city_id, CHANNEL, list_version]
        return int(await self._call(lambda: self._invalidate(keys=keys, args=args)))

    async def versions(self) -> tuple[int, int]:
        """(generation, list version), 0 when never set."""
        generation, list_version = await self._call(lambda: self.client.mget([GENERATION_KEY, LIST_VERSION_KEY]))
        return int(generation or 0), int(list_version or 0)

    async def bump_generation(self, generation: int) -> tuple[int, int]:
        """Make every cached entry unreachable (after writes whose invalidation could not reach Redis).

        The new generation is above `generation` (the caller's) too, for the reason _INVALIDATE gives.
        Returns the new (generation, list version).
        """
        keys: list[Any] = [GENERATION_KEY, LIST_VERSION_KEY]
        new_generation, list_version = await self._call(lambda: self._bump(keys=keys, args=[generation, CHANNEL]))
        return int(new_generation), int(list_version)

    async def raise_versions(self, generation: int, list_version: int) -> None:
        """Put back versions Redis forgot (flushed or restarted empty): never lower what it has."""
        keys: list[Any] = [GENERATION_KEY, LIST_VERSION_KEY]
        await self._call(lambda: self._raise(keys=keys, args=[generation, list_version]))

    async def try_lock(self, key: str, ttl: float) -> bool:
        """A short cross-instance lock for single-flight fills (expires by itself)."""
        return bool(await self._call(lambda: self.client.set(key, b"1", nx=True, px=int(ttl * 1000))))

    async def get_or_lock(self, key: str, lock: str, ttl: float) -> CacheEntry | bool:
        """The entry at `key` if there is one (fresh or not: the caller judges), else whether this call took
        the short fill lock `lock` (expires by itself after `ttl` seconds)."""
        found = await self._call(lambda: self._get_or_lock(keys=[key, lock], args=[max(1, int(ttl * 1000))]))
        if isinstance(found, bytes):
            entry = CacheEntry.decode(found)
            # Undecodable bytes (another version's format) are a miss: take the lock over them.
            return entry if entry is not None else await self.try_lock(lock, ttl)
        return bool(found)

    async def unlock(self, key: str) -> None:
        await self._call(lambda: self.client.delete(key))

    async def ping(self) -> bool:
        return bool(await self._call(self.client.ping))
