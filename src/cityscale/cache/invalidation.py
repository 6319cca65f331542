"""Keeping every instance's L1 and key versions coherent through Redis pub/sub.

Messages on `cs:v1:invalidate`: `item:<id> lists:<version> lsn:<n>` after a write, `gen:<n>` after a
generation bump. A listener task applies them to this instance; when it (re)connects, it clears the
L1 and re-reads the versions, since messages sent while it was away are lost. A 1 s poll of the
versions backs it up, so a lost message costs at most about a second of staleness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from cityscale.cache.l1 import L1Cache
from cityscale.cache.redis_store import CHANNEL, RedisStore, RedisUnavailableError

log = logging.getLogger("cityscale.cache")

POLL_INTERVAL = 1.0
RECONNECT_DELAY = 0.5


class LocalTombstones:
    """The newest write (commit LSN) this instance has heard of per item, and for lists.

    Redis keeps the same as tombstones that refuse fills of older data, but loses them with the rest of
    its memory (flushed, restarted): these, in each instance, still refuse to cache data older than a
    write heard of (e.g. read from a replica not yet past it). Kept as long as Redis keeps its own.
    """

    def __init__(self, keep_for: float, *, max_items: int = 100_000) -> None:
        self.keep_for = keep_for
        self.max_items = max_items
        self._items: dict[str, tuple[int, float]] = {}  # key -> (lsn, recorded at); oldest first
        self.lists = 0

    def record(self, item_key: str, lsn: int) -> None:
        now = time.monotonic()
        old = self._items.pop(item_key, None)
        self._items[item_key] = (max(lsn, old[0] if old else 0), now)
        self.lists = max(self.lists, lsn)
        while len(self._items) > self.max_items or (
            self._items and now - next(iter(self._items.values()))[1] > self.keep_for
        ):
            del self._items[next(iter(self._items))]

    def floor(self, key: str) -> int:
        """Data older than this LSN must not be cached under `key`."""
        if not key.startswith("item:"):
            return self.lists
        found = self._items.get(key)
        return found[0] if found is not None and time.monotonic() - found[1] <= self.keep_for else 0


@dataclass
class KeyVersions:
    """Parts of every cache key: bumping one makes older entries unreachable."""

    generation: int = 0
    lists: int = 0


class InvalidationListener:
    def __init__(self, store: RedisStore, l1: L1Cache, versions: KeyVersions, tombstones: LocalTombstones) -> None:
        self.store = store
        self.l1 = l1
        self.versions = versions
        self.tombstones = tombstones
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = False

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._poll())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def apply(self, message: str) -> None:
        parts = dict(part.partition(":")[::2] for part in message.split())
        if parts.get("item") and parts.get("lsn", "").isdigit():
            self.tombstones.record(f"item:{parts['item']}", int(parts["lsn"]))
        for part in message.split():
            kind, _, value = part.partition(":")
            if kind == "item":
                self.l1.discard(f"item:{value}")
            elif kind == "lists" and value.isdigit():
                self.versions.lists = max(self.versions.lists, int(value))
            elif kind == "gen" and value.isdigit() and int(value) > self.versions.generation:
                self.versions.generation = int(value)
                self.l1.clear()

    async def _listen(self) -> None:
        while True:
            pubsub = self.store.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                # Whatever was published while we were not listening is lost: start from a clean slate.
                self.l1.clear()
                await self._refresh_versions()
                self.connected = True
                async for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes):
                        self.apply(data.decode(errors="replace"))
            except (RedisError, OSError, RedisUnavailableError) as exc:
                log.debug("invalidation listener lost redis: %s", exc)
            finally:
                self.connected = False
                # Closing a connection that already failed may raise anything redis-py wraps; it is gone either way.
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RECONNECT_DELAY)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            with contextlib.suppress(RedisUnavailableError):
                await self._refresh_versions()

    async def _refresh_versions(self) -> None:
        generation, lists = await self.store.versions()
        if generation > self.versions.generation:
            self.versions.generation = generation
            self.l1.clear()
        self.versions.lists = max(self.versions.lists, lists)
        if generation < self.versions.generation or lists < self.versions.lists:
            # Redis forgot versions we went past (flushed, or restarted empty): put them back, so an instance
            # that starts now does not hand out versions the others would ignore as old.
            await self.store.raise_versions(self.versions.generation, self.versions.lists)
