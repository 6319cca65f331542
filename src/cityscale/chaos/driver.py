"""The load under which faults are injected: an open-loop read/write mix that records every request.

The runner only depends on `LoadDriver` (start, pause/resume writes, stop, `records`), so replacing this
internal driver with `cityscale.loadtest`'s scheduler once it is on main is one change in `runner.py`.

Open loop: request n is due at `start + n / rate` whatever the server does, and its latency is measured
from that due time, so a stalled server shows as latency instead of a lower send rate (no coordinated
omission). Bounded: at most `max_requests` and `max_seconds`, at most `max_in_flight` at once (a due
request that finds no free slot is recorded as status -1, "not sent", so an overload is visible).

Writes are `PATCH /api/cities/{key}` of `population` to a value from one increasing counter, on a small
set of keys owned by the run. At most one write per key is in flight, so per key the commit order is
the send order and the last acknowledged value is the one that must survive.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

import httpx

NOT_SENT = -1  # no free slot when due: the client, not the server, was the bottleneck
NO_ANSWER = 0  # connection error or client timeout


@dataclass
class RequestRecord:
    """One request as the client saw it. `due` is on the `time.monotonic()` clock."""

    kind: str  # read | write
    path: str
    due: float
    latency: float
    status: int
    key: int | None = None
    value: int | None = None
    retry_after: str | None = None
    cache: str = ""
    detail: str = ""  # an error answer's body (problem+json title/detail), for the report


@dataclass(frozen=True)
class LoadPlan:
    """What to send: `rate` requests/s, a `write_share` of them writes on `keys`, reads over `read_ids`."""

    base_url: str
    token: str
    keys: tuple[int, ...]
    read_ids: tuple[int, ...]
    rate: float
    write_share: float = 0.05
    list_share: float = 0.1
    max_seconds: float = 900.0
    max_requests: int = 1_000_000
    max_in_flight: int = 256
    timeout: float = 10.0
    seed: int = 1


class LoadDriver(Protocol):
    records: list[RequestRecord]

    def start(self) -> None: ...
    def pause_writes(self) -> None: ...
    def resume_writes(self) -> None: ...
    async def wait_writes_idle(self, timeout: float) -> bool: ...
    async def stop(self) -> list[RequestRecord]: ...


@dataclass
class OpenLoopDriver:
    """The internal `LoadDriver`: httpx, one event loop, open-loop schedule."""

    plan: LoadPlan
    records: list[RequestRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._writes_paused = False
        self._busy_keys: set[int] = set()
        self._counter = int(time.time() * 1000) % 1_000_000_000  # increasing across runs on one stack
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random(self.plan.seed)  # noqa: S311 - a request mix, not crypto

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def pause_writes(self) -> None:
        self._writes_paused = True

    def resume_writes(self) -> None:
        self._writes_paused = False

    async def wait_writes_idle(self, timeout: float) -> bool:
        """True once no write is in flight (every write sent has its answer recorded)."""
        deadline = time.monotonic() + timeout
        while self._busy_keys and time.monotonic() < deadline:  # noqa: ASYNC110 - a set, no event to wait on
            await asyncio.sleep(0.02)
        return not self._busy_keys

    async def stop(self) -> list[RequestRecord]:
        self._stop.set()
        if self._task is not None:
            await self._task
        return self.records

    async def _run(self) -> None:
        plan = self.plan
        limits = httpx.Limits(max_connections=plan.max_in_flight, max_keepalive_connections=64)
        slots = asyncio.Semaphore(plan.max_in_flight)
        pending: set[asyncio.Task[None]] = set()
        headers = {"Authorization": f"Bearer {plan.token}"}
        async with httpx.AsyncClient(base_url=plan.base_url, timeout=plan.timeout, limits=limits) as client:
            start = time.monotonic()
            deadline = start + plan.max_seconds
            sent = 0
            while not self._stop.is_set() and sent < plan.max_requests:
                due = start + sent / plan.rate
                now = time.monotonic()
                if due >= deadline:
                    break
                if due > now:
                    await asyncio.sleep(due - now)
                sent += 1
                if slots.locked():
                    self.records.append(RequestRecord("read", "", due, 0.0, NOT_SENT))
                    continue
                await slots.acquire()
                task = asyncio.create_task(self._one(client, headers, due))
                pending.add(task)
                task.add_done_callback(pending.discard)
                task.add_done_callback(lambda _: slots.release())
            if pending:
                await asyncio.wait(pending, timeout=plan.timeout + 1)

    async def _one(self, client: httpx.AsyncClient, headers: dict[str, str], due: float) -> None:
        plan, rng = self.plan, self._rng
        key = None
        if not self._writes_paused and rng.random() < plan.write_share:
            free = [k for k in plan.keys if k not in self._busy_keys]
            key = rng.choice(free) if free else None
        if key is not None:
            self._busy_keys.add(key)
            self._counter += 1
            value = self._counter
            path = f"/api/cities/{key}"
            record = RequestRecord("write", path, due, 0.0, NO_ANSWER, key=key, value=value)
            try:
                response = await client.patch(path, json={"population": value}, headers=headers)
                record.status = response.status_code
                record.retry_after = response.headers.get("retry-after")
                if response.status_code != 200:
                    record.detail = response.text[:200]
            except httpx.HTTPError as exc:
                record.detail = type(exc).__name__
            finally:
                record.latency = time.monotonic() - due
                self._busy_keys.discard(key)
            self.records.append(record)
            return
        if rng.random() < plan.list_share:
            path = f"/api/cities?limit=50&min_population={rng.choice((0, 100000, 1000000))}"
        else:
            path = f"/api/cities/{rng.choice(plan.read_ids)}"
        record = RequestRecord("read", path, due, 0.0, NO_ANSWER)
        try:
            try:
                response = await client.get(path)
            except httpx.RemoteProtocolError:
                # A kept-alive connection closed by the server as we reused it (nginx's old workers do
                # that on a reload): an idempotent request may be retried (RFC 9110 9.2.2), as browsers
                # do. Once, and its latency still counts from the scheduled time.
                response = await client.get(path)
                record.detail = "retried once: connection closed before any response"
            record.status = response.status_code
            record.cache = response.headers.get("x-cache", "")
            record.retry_after = response.headers.get("retry-after")
            if response.status_code not in (200, 304):
                record.detail = response.text[:200]
        except httpx.HTTPError as exc:
            record.detail = type(exc).__name__
        record.latency = time.monotonic() - due
        self.records.append(record)
