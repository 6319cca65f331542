"""Cache-aside reads: L1, then Redis, then the database, with single-flight and stale-if-error.

`ReadCache.get()` returns the response bytes of an item or list read. The loader (a database query)
runs at most once per key at a time in this process (single-flight) and, across instances, while a
short Redis lock is held; the others wait briefly for the value to appear. When the database cannot
answer, an entry past its freshness is served rather than an error (`Lookup.stale`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cityscale.cache.budget import redis_budget
from cityscale.cache.entry import CacheEntry
from cityscale.cache.invalidation import InvalidationListener, KeyVersions, LocalTombstones
from cityscale.cache.l1 import L1Cache
from cityscale.cache.redis_store import PREFIX, RedisStore, RedisUnavailableError
from cityscale.cache.singleflight import SingleFlight
from cityscale.store.errors import DatabaseUnavailableError

L1_TTL = 1.0  # default seconds an L1 entry is fresh: the bound on staleness when an invalidation is lost
TTL_JITTER = 0.1  # +-10 %: entries filled together do not all expire together
STALE_FOR = 300.0  # how long past freshness an entry may still be served when the database is down
LOCK_TTL = 2.0
LOCK_WAIT = 1.0  # how long a loser of the fill lock waits for the winner's value before querying itself
LOCK_POLL = 0.02  # how often it looks (each look also takes the lock if the winner gave it up unfilled)
TOMBSTONE_MIN_TTL = 60.0


def jittered(base: float, spread: float) -> float:
    """`base` moved by up to TTL_JITTER of itself: `spread` in [-1, 1] says where in that range."""
    return base * (1 + TTL_JITTER * max(-1.0, min(1.0, spread)))


def entry_spread(stored_at: float) -> float:
    """A spread in [-1, 1] that every instance derives alike from an entry's fill time (its milliseconds)."""
    return ((int(stored_at * 1000) % 2001) - 1000) / 1000


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a loader returns: the body (None: not found) and the LSN the data is at least as new as."""

    body: bytes | None
    lsn: int
    next_after_id: int | None = None

    def entry(self) -> CacheEntry:
        return CacheEntry(self.body or b"", time.time(), self.lsn, self.body is not None, self.next_after_id)


@dataclass(frozen=True, slots=True)
class Lookup:
    entry: CacheEntry
    source: str  # "l1", "redis", "db" or "stale"

    @property
    def stale(self) -> bool:
        return self.source == "stale"


@dataclass
class CacheCounters:
    """Plain counters read by the metrics collector at scrape time (nothing costly on the hot path)."""

    l1_hits: int = 0
    l1_misses: int = 0
    redis_hits: int = 0
    redis_misses: int = 0
    redis_errors: int = 0
    stale_served: int = 0
    fills_refused: int = 0


Loader = Callable[[int | None], Awaitable[Loaded]]


class ReadCache:
    def __init__(self, redis: RedisStore | None, *, ttl: float, l1_ttl: float = L1_TTL) -> None:
        self.redis = redis
        self.ttl = ttl
        self.l1_ttl = min(l1_ttl, ttl)
        self.l1 = L1Cache()
        self.versions = KeyVersions()
        self.counters = CacheCounters()
        self.flight: SingleFlight[Lookup] = SingleFlight()
        self.tombstones = LocalTombstones(max(TOMBSTONE_MIN_TTL, 2 * (ttl + STALE_FOR)))
        self.listener = InvalidationListener(redis, self.l1, self.versions, self.tombstones) if redis else None
        self._redis_missed_writes = False
        self._maintenance: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def start(self) -> None:
        if self.listener is not None and self.enabled:
            self.listener.start()
            self._maintenance = asyncio.create_task(self._recover_periodically())

    async def stop(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        if self.listener is not None:
            await self.listener.stop()
        if self.redis is not None:
            await self.redis.close()

    # -- keys ----------------------------------------------------------------------------------------

    def item_key(self, city_id: int) -> str:
        return f"item:{city_id}"

    def list_key(self, digest: str) -> str:
        return f"list:{self.versions.lists}:{digest}"

    def _redis_key(self, key: str) -> str:
        return f"{PREFIX}g{self.versions.generation}:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{PREFIX}lock:{self._redis_key(key)}"

    def _tombstones(self, key: str) -> list[str]:
        if key.startswith("item:"):
            return [f"{PREFIX}tomb:{key}"]
        return [f"{PREFIX}tomb:lists"]

    # -- reads ---------------------------------------------------------------------------------------

    async def get(self, key: str, load: Loader, *, min_lsn: int | None = None) -> Lookup:
        """The entry for `key`, at least as new as `min_lsn` when given (read-your-writes).

        Its Redis calls share one budget (cache/budget.py): a slow Redis adds at most about 100 ms.
        """
        with redis_budget():
            return await self._get(key, load, min_lsn)

    async def _get(self, key: str, load: Loader, min_lsn: int | None) -> Lookup:
        if not self.enabled:
            return Lookup((await load(min_lsn)).entry(), "db")
        cached = self.l1.get(key)
        if (
            cached is not None
            and cached.fresh(self.l1_ttl, time.monotonic())
            and (min_lsn is None or cached.entry.lsn >= min_lsn)
        ):
            self.counters.l1_hits += 1
            return Lookup(cached.entry, "l1")
        self.counters.l1_misses += 1
        local = cached.entry if cached is not None else None
        if min_lsn is not None:
            # A read-your-writes read takes only data at least as new as its write, and does not join a
            # load that may have started before that write.
            shared, reachable = await self._redis_get(key)
            if shared is not None and shared.lsn >= min_lsn and shared.age() < self._fresh_for(shared):
                self.l1.put(key, shared)
                return Lookup(shared, "redis")
            return await self._load(key, load, min_lsn, shared or local, fill=reachable)
        # A Redis hit needs no single-flight (no task per request); only a database load is shared.
        shared, reachable = await self._redis_get(key)
        if shared is not None and shared.age() < self._fresh_for(shared):
            self.l1.put(key, shared)
            return Lookup(shared, "redis")
        return await self.flight.run(key, self._shared_load(key, load, shared or local, reachable=reachable))

    async def _shared_load(self, key: str, load: Loader, fallback: CacheEntry | None, *, reachable: bool) -> Lookup:
        # A load of this key that finished between our Redis miss and now left its entry in L1: use it.
        cached = self.l1.get(key)
        if cached is not None and cached.fresh(self.l1_ttl, time.monotonic()):
            return Lookup(cached.entry, "l1")
        # At most one Redis timeout per request: when it just failed, skip the lock and the fill.
        return await self._load(key, load, None, fallback, use_lock=reachable, fill=reachable)

    async def _load(
        self,
        key: str,
        load: Loader,
        min_lsn: int | None,
        fallback: CacheEntry | None,
        *,
        use_lock: bool = False,
        fill: bool = True,
    ) -> Lookup:
        claim = await self._claim(key) if use_lock else None
        if claim is False:
            # Another instance is filling this key: wait briefly for its value instead of querying too.
            claim = await self._wait_for_fill(key)
        if isinstance(claim, CacheEntry):
            self.l1.put(key, claim)
            return Lookup(claim, "redis")
        locked = claim is True
        try:
            try:
                loaded = await load(min_lsn)
            except DatabaseUnavailableError:
                cached = self.l1.get(key)
                stale = fallback if fallback is not None else (cached.entry if cached is not None else None)
                if (
                    stale is not None
                    and stale.age() < self.ttl + STALE_FOR
                    and (min_lsn is None or stale.lsn >= min_lsn)
                ):
                    self.counters.stale_served += 1
                    return Lookup(stale, "stale")
                raise
            entry = loaded.entry()
            stored: bool | None = False  # older than a write heard of (Redis may have lost its tombstone)
            if entry.lsn >= self.tombstones.floor(key):
                stored = await self._redis_fill(key, entry, release_lock=locked) if fill else None
                locked = False if fill else locked  # released by the fill, or it expires by itself if Redis failed
            if stored is not False:
                # Refused means a write newer than this data invalidated the key while we read it (e.g. from a
                # replica that had not replayed it yet): this request gets what it read, but the L1 must not
                # keep it, or it would outlive the invalidation message by the L1's whole freshness.
                self.l1.put(key, entry)
            return Lookup(entry, "db")
        finally:
            if locked:
                await self._unlock(key)

    def _fresh_for(self, entry: CacheEntry) -> float:
        # Jitter derived from the entry itself, so every instance agrees on when it goes stale.
        return jittered(self.ttl, entry_spread(entry.stored_at))

    # -- redis, every call optional ------------------------------------------------------------------

    async def _redis_get(self, key: str) -> tuple[CacheEntry | None, bool]:
        """The shared entry, and whether Redis answered at all."""
        if self.redis is None:
            return None, False
        try:
            entry = await self.redis.get(self._redis_key(key))
        except RedisUnavailableError:
            self.counters.redis_errors += 1
            return None, False
        if entry is None:
            self.counters.redis_misses += 1
        else:
            self.counters.redis_hits += 1
        return entry, True

    async def _redis_fill(self, key: str, entry: CacheEntry, *, release_lock: bool = False) -> bool | None:
        """True: stored; False: refused by a newer write's tombstone; None: Redis did not answer."""
        if self.redis is None:
            return None
        ttl = jittered(self.ttl + STALE_FOR, random.uniform(-1.0, 1.0))  # noqa: S311 - not crypto
        lock = self._lock_key(key) if release_lock else None
        try:
            stored = await self.redis.fill(
                self._redis_key(key), entry, ttl=ttl, tombstones=self._tombstones(key), release_lock=lock
            )
        except RedisUnavailableError:
            self.counters.redis_errors += 1
            return None
        if not stored:
            self.counters.fills_refused += 1
        return stored

    async def _claim(self, key: str) -> CacheEntry | bool | None:
        """In one round trip, the fresh entry if another instance stored it since our miss, else the fill lock.

        Returns the entry; True: this instance holds the lock and fills the key; False: another instance
        holds it; None: Redis unavailable. Checking for the entry with the lock closes the race where
        another instance filled the key and released its lock between our miss and our lock attempt.
        """
        if self.redis is None:
            return None
        try:
            found = await self.redis.get_or_lock(self._redis_key(key), self._lock_key(key), LOCK_TTL)
            if isinstance(found, CacheEntry):
                if found.age() < self._fresh_for(found):
                    self.counters.redis_hits += 1
                    return found
                # Past its freshness (kept only for stale-if-error): it needs a refill, under the lock.
                return await self.redis.try_lock(self._lock_key(key), LOCK_TTL)
        except RedisUnavailableError:
            self.counters.redis_errors += 1
            return None
        return found

    async def _unlock(self, key: str) -> None:
        if self.redis is not None:
            try:
                await self.redis.unlock(self._lock_key(key))
            except RedisUnavailableError:
                self.counters.redis_errors += 1

    async def _wait_for_fill(self, key: str) -> CacheEntry | bool | None:
        """The winner's entry, or True once its lock is free and ours (it failed, or its fill was refused).

        None after LOCK_WAIT or when Redis fails: the caller then queries the database itself, so a
        stuck winner costs a bounded wait, never an error.
        """
        deadline = time.monotonic() + LOCK_WAIT
        while time.monotonic() < deadline:
            await asyncio.sleep(LOCK_POLL)
            claim = await self._claim(key)
            if claim is not False:
                return claim
        return None

    # -- writes --------------------------------------------------------------------------------------

    async def invalidate(self, city_id: int, lsn: int) -> None:
        """After a committed write: this instance at once, every other one through Redis."""
        self.l1.discard(self.item_key(city_id))
        self.tombstones.record(self.item_key(city_id), lsn)
        self.versions.lists += 1
        if self.redis is None:
            return
        try:
            if self._redis_missed_writes:
                # Writes happened while Redis was unreachable: its entries may predate them. Start afresh.
                await self.recover()
            new_version = await self.redis.invalidate_write(
                self._redis_key(self.item_key(city_id)), f"{PREFIX}tomb:{self.item_key(city_id)}", city_id, lsn,
                max(TOMBSTONE_MIN_TTL, 2 * (self.ttl + STALE_FOR)), list_version=self.versions.lists,
            )  # fmt: skip
            self.versions.lists = max(self.versions.lists, new_version)
        except RedisUnavailableError:
            self.counters.redis_errors += 1
            self._redis_missed_writes = True

    async def _recover_periodically(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.recover()

    async def recover(self) -> None:
        """Called periodically: once Redis answers again after missed writes, bump the generation."""
        if self.redis is None or not self._redis_missed_writes:
            return
        try:
            generation, lists = await self.redis.bump_generation(self.versions.generation)
        except RedisUnavailableError:
            return
        self.versions.generation = max(self.versions.generation, generation)
        self.versions.lists = max(self.versions.lists, lists)
        self.l1.clear()
        self._redis_missed_writes = False
