"""The in-process L1: a small LRU of cache entries, fresh for a tiny TTL, kept stale for fallback.

A hit costs a dict lookup (microseconds), against ~120 µs of client CPU for a Redis GET: this is what
makes hot reads fast (DESIGN.md section 7). Coherence across instances comes from invalidation
messages (cache/invalidation.py) and from the tiny TTL, which bounds how long a missed message matters.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import NamedTuple

from cityscale.cache.entry import CacheEntry


class Local(NamedTuple):
    """An entry and when this process stored it: L1 freshness counts from here, not from the fill."""

    entry: CacheEntry
    stored_at: float

    def fresh(self, ttl: float, now: float) -> bool:
        return now - self.stored_at < ttl


class L1Cache:
    def __init__(self, *, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Local] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Local | None:
        """The entry, fresh or not (the caller judges), with when it was stored; refreshes its LRU position."""
        local = self._entries.get(key)
        if local is not None:
            self._entries.move_to_end(key)
        return local

    def put(self, key: str, entry: CacheEntry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.entry.body)
        self._entries[key] = Local(entry, time.monotonic())
        self._bytes += len(entry.body)
        while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.entry.body)

    def discard(self, key: str) -> None:
        local = self._entries.pop(key, None)
        if local is not None:
            self._bytes -= len(local.entry.body)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
