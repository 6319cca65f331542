"""The in-process L1: a small LRU of cache entries, fresh for a tiny TTL, kept stale for fallback.

A hit costs a dict lookup (microseconds), against ~120 µs of client CPU for a Redis GET: this is what
makes hot reads fast (DESIGN.md section 7). Coherence across instances comes from invalidation
messages (cache/invalidation.py) and from the tiny TTL, which bounds how long a missed message matters.
"""

from __future__ import annotations

from collections import OrderedDict

from cityscale.cache.entry import CacheEntry


class L1Cache:
    def __init__(self, *, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CacheEntry | None:
        """The entry, fresh or not (the caller judges its age); refreshes its LRU position."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CacheEntry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)

    def discard(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)

    def discard_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            self.discard(key)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
