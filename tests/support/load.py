"""A steady stream of concurrent requests during a fault, recording every outcome (bounded in time and count)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    at: float
    path: str
    status: int  # 0: no HTTP answer (connection error or client timeout)
    latency: float
    cache: str


@dataclass
class SteadyLoad:
    """`workers` concurrent clients looping GETs over `base_urls` round-robin until stopped."""

    base_urls: list[str]
    paths: Callable[[random.Random], str]
    workers: int = 8
    max_requests: int = 50_000
    max_seconds: float = 60.0
    timeout: float = 5.0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[Outcome]:
        self._stop.set()
        if self._task is not None:
            await self._task
        return self.outcomes

    async def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        counter = itertools.count()
        urls = itertools.cycle(self.base_urls)
        async with httpx.AsyncClient(timeout=self.timeout) as client:

            async def worker(seed: int) -> None:
                rng = random.Random(seed)
                while not self._stop.is_set() and time.monotonic() < deadline and next(counter) < self.max_requests:
                    path = self.paths(rng)
                    started = time.monotonic()
                    try:
                        response = await client.get(next(urls) + path)
                        status, cache = response.status_code, response.headers.get("x-cache", "")
                    except httpx.HTTPError:
                        status, cache = 0, ""
                    self.outcomes.append(Outcome(started, path, status, time.monotonic() - started, cache))
                    await asyncio.sleep(0.002)

            await asyncio.gather(*(worker(i) for i in range(self.workers)))


def between(outcomes: list[Outcome], start: float, end: float) -> list[Outcome]:
    return [o for o in outcomes if start <= o.at < end]
