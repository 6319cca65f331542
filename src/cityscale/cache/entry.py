"""A cached response: the body bytes plus what is needed to judge them (age, source LSN, found)."""

from __future__ import annotations

import hashlib
import struct
import time
from dataclasses import dataclass, field


def etag_of(body: bytes) -> str:
    """A strong HTTP validator for exactly these bytes."""
    return '"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'


_HEADER = struct.Struct("!dQ?q")  # stored_at (unix seconds), source LSN, found, next page's cursor id (-1: none)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A response body and its facts: `lsn` is a WAL position the data is at least as new as, `found` is
    False for a cached 404, `next_after_id` is the keyset position of a list's next page."""

    body: bytes
    stored_at: float
    lsn: int
    found: bool = True
    next_after_id: int | None = None
    etag: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Hashed once when the entry is made, not on every hit.
        object.__setattr__(self, "etag", etag_of(self.body))

    def age(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.stored_at)

    def encode(self) -> bytes:
        next_id = -1 if self.next_after_id is None else self.next_after_id
        return _HEADER.pack(self.stored_at, self.lsn, self.found, next_id) + self.body

    @classmethod
    def decode(cls, raw: bytes) -> CacheEntry | None:
        """None for bytes that are not an entry (e.g. written by another version): treated as a miss."""
        if len(raw) < _HEADER.size:
            return None
        stored_at, lsn, found, next_id = _HEADER.unpack_from(raw)
        return cls(raw[_HEADER.size :], stored_at, lsn, found, None if next_id < 0 else next_id)
