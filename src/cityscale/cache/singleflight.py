"""In-process single-flight: concurrent loads of one key share one call."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._calls: dict[str, asyncio.Task[T]] = {}
        self.waits = 0  # callers that joined a load already in flight (exported as a metric)

    async def run(self, key: str, load: Coroutine[Any, Any, T]) -> T:
        """Await the load of `key`, starting it unless one is in flight (then `load` is discarded)."""
        task = self._calls.get(key)
        if task is None:
            # A task of its own: a caller that gives up (client disconnect) does not cancel it for the others.
            task = asyncio.ensure_future(load)
            self._calls[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        else:
            load.close()
            self.waits += 1
        return await asyncio.shield(task)

    def _finished(self, key: str, task: asyncio.Task[T]) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody awaited any more is not logged as lost
