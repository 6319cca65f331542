"""The load under which faults are injected: an open-loop read/write mix that records every request.

The runner only depends on `LoadDriver` (start, pause/resume writes, stop, `records`, `lag`).
`OpenLoopDriver` sends on the load generator's own client (`cityscale.loadtest.client.Connection`:
an asyncio protocol over pre-built request bytes and httptools' C parser, in a bounded pool of
keep-alive connections), so one process holds 40,000 requests/min with the whole stack on the same
cores; httpx, used before, topped out near 21,000/min here (docs/reliability.md).

Open loop: request n is due at `start + n / rate` whatever the server does, and its latency is measured
from that due time, so a stalled server shows as latency instead of a lower send rate (no coordinated
omission). Bounded: at most `max_requests` and `max_seconds`, at most `max_in_flight` at once (a due
request that finds no free slot is recorded as status -1, "not sent", so an overload is visible).
`lag` says how late the generator itself put requests on the wire (due -> written, a connection at hand):
the client-side share of the latency, which must stay small for the run to measure the server.

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

from cityscale.loadtest.client import Connection, RequestError, Response
from cityscale.loadtest.pool import ConnectionPool
from cityscale.loadtest.target import Target, parse_target

NOT_SENT = -1  # no free slot when due: the client, not the server, was the bottleneck
NO_ANSWER = 0  # connection error or client timeout
LATE = 0.010  # a request written this long after its due time counts as sent late (the generator lagged)
CAPTURE = frozenset({b"x-cache", b"retry-after"})
_MIN_SLEEP = 0.001  # one timer tick: shorter sleeps round to zero and spin a core the stack needs
RETRIED = "retried once: connection closed before any response"  # `detail` of a request sent twice


@dataclass(slots=True)
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


@dataclass
class SendLag:
    """How late the generator wrote requests, from their due time (a connection at hand)."""

    sent: int = 0
    late: int = 0  # written more than LATE after due
    worst: float = 0.0

    def add(self, lag: float) -> None:
        self.sent += 1
        if lag > LATE:
            self.late += 1
            self.worst = max(self.worst, lag)


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
    lag: SendLag

    def start(self) -> None: ...
    def pause_writes(self) -> None: ...
    def resume_writes(self) -> None: ...
    async def wait_writes_idle(self, timeout: float) -> bool: ...
    async def stop(self) -> list[RequestRecord]: ...


@dataclass
class OpenLoopDriver:
    """The internal `LoadDriver`: one event loop, open-loop schedule, `loadtest`'s connection pool."""

    plan: LoadPlan
    records: list[RequestRecord] = field(default_factory=list)
    lag: SendLag = field(default_factory=SendLag)

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._writes_paused = False
        self._busy_keys: set[int] = set()
        self._counter = int(time.time() * 1000) % 1_000_000_000  # increasing across runs on one stack
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random(self.plan.seed)  # noqa: S311 - a request mix, not crypto
        self._target: Target = parse_target(self.plan.base_url)
        self._head = f"Host: {self._target.host_header}\r\n".encode()
        self._write_head = self._head + f"Authorization: Bearer {self.plan.token}\r\n".encode()
        self._gets: dict[str, bytes] = {}  # path -> request bytes: reads repeat over a fixed set of paths
        self._in_flight = 0

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
        plan, clock = self.plan, time.monotonic
        pool = ConnectionPool(self._target, plan.max_in_flight, plan.timeout, capture=CAPTURE)
        pending: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        total = min(plan.max_requests, int(plan.max_seconds * plan.rate))  # every due time inside max_seconds
        start = clock()
        sent = 0
        try:
            while not self._stop.is_set() and sent < total:
                due_now = min(total, int((clock() - start) * plan.rate) + 1)
                while sent < due_now:
                    due = start + sent / plan.rate
                    sent += 1
                    if self._in_flight >= plan.max_in_flight:
                        self.records.append(RequestRecord("read", "", due, 0.0, NOT_SENT))
                        continue
                    self._in_flight += 1
                    task = loop.create_task(self._one(pool, self._choose(due)))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                # Sleep until the next one is due, at least a timer tick; requests due within the
                # tick leave together, up to 1 ms late, and that lateness is in their latency.
                wait = start + sent / plan.rate - clock()
                await asyncio.sleep(max(wait, _MIN_SLEEP) if wait > 0 else 0)
            if pending:
                _, late = await asyncio.wait(set(pending), timeout=plan.timeout + 1)
                for task in late:  # each still records itself, as unanswered
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        finally:
            pool.close()

    def _choose(self, due: float) -> RequestRecord:
        """The request due now; a write takes its key at once, so no other write can take it meanwhile."""
        plan, rng = self.plan, self._rng
        if not self._writes_paused and rng.random() < plan.write_share:
            free = [k for k in plan.keys if k not in self._busy_keys]
            if free:
                key = rng.choice(free)
                self._busy_keys.add(key)
                self._counter += 1
                return RequestRecord("write", f"/api/cities/{key}", due, 0.0, NO_ANSWER, key=key, value=self._counter)
        if rng.random() < plan.list_share:
            path = f"/api/cities?limit=50&min_population={rng.choice((0, 100000, 1000000))}"
        else:
            path = f"/api/cities/{rng.choice(plan.read_ids)}"
        return RequestRecord("read", path, due, 0.0, NO_ANSWER)

    def _request(self, record: RequestRecord) -> bytes:
        path = self._target.path_prefix + record.path
        if record.kind == "read":
            request = self._gets.get(path)
            if request is None:
                request = self._gets[path] = b"GET %s HTTP/1.1\r\n%s\r\n" % (path.encode(), self._head)
            return request
        body = b'{"population": %d}' % (record.value or 0)
        return b"PATCH %s HTTP/1.1\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
            path.encode(),
            self._write_head,
            len(body),
            body,
        )

    async def _one(self, pool: ConnectionPool, record: RequestRecord) -> None:
        try:
            response = await self._exchange(pool, record)
            record.status = response.status
            headers = response.headers or {}
            record.retry_after = headers.get("retry-after")
            if record.kind == "read":
                record.cache = headers.get("x-cache", "")
            if response.status not in ((200, 304) if record.kind == "read" else (200,)):
                record.detail = (response.body or b"").decode("utf-8", "replace")[:200]
        except RequestError as exc:
            record.detail = f"{record.detail}; {exc}" if record.detail else str(exc)
        except asyncio.CancelledError:
            record.detail = f"unanswered {self.plan.timeout + 1:g} s after the load stopped"
            raise
        finally:
            record.latency = time.monotonic() - record.due
            self._in_flight -= 1
            if record.key is not None:
                self._busy_keys.discard(record.key)
            self.records.append(record)

    async def _exchange(self, pool: ConnectionPool, record: RequestRecord) -> Response:
        request, timeout = self._request(record), self.plan.timeout
        connection, _ = await pool.acquire()
        self.lag.add(time.monotonic() - record.due)
        try:
            return await connection.send(request, timeout, keep_body=True)
        except RequestError as exc:
            kept_alive = connection.responses > 0
            if exc.kind != "reset" or exc.received or not kept_alive:
                raise
            # A kept-alive connection closed by the server as we reused it (nginx's old workers do
            # that on a reload): an idempotent request may be retried (RFC 9110 9.2.2), as browsers
            # do. Once, on a new connection, and its latency still counts from the scheduled time.
            # Our writes are idempotent too, and the client knows it: a PATCH assigns absolute values
            # (`population` = n), so applying it twice leaves what applying it once does, and one
            # write per key is in flight, so no other write can come between the two attempts.
            record.detail = RETRIED
        finally:
            pool.release(connection)
        fresh = await Connection.open(self._target.host, self._target.port, timeout, capture=CAPTURE)
        try:
            return await fresh.send(request, timeout, keep_body=True)
        finally:
            fresh.close()
