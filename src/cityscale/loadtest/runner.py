"""The two ways to generate load.

Open loop (`run_open`): request i is due at start + i/rate whatever happened before, and its latency
counts from that scheduled instant, so a server that stalls is charged for every request it delayed
(no coordinated omission, as wrk2 and k6's constant-arrival-rate). Closed loop (`run_closed`): N
connections each send the next request when the previous answered (autocannon, wrk); latency counts
from the actual send, which under-reports stalls: a stalled server simply gets fewer requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cityscale.loadtest.client import Connection, RequestError
from cityscale.loadtest.mix import Mix, RequestTemplate
from cityscale.loadtest.pool import ConnectionPool
from cityscale.loadtest.stats import Stats
from cityscale.loadtest.target import Target
from cityscale.loadtest.writes import WriteRecorder

# Every timestamp is time.monotonic() (CLOCK_MONOTONIC, nanoseconds): uvloop's loop.time() has only
# millisecond resolution, and the accuracy test compares against a server reading the same clock.
_START_DELAY = 0.05  # lets the loop settle before the first scheduled request
_MIN_SLEEP = 0.001
_RECONNECT_PAUSE = 0.01  # a closed-loop worker whose connect failed waits this long: bounded error spin


@dataclass(frozen=True)
class RunConfig:
    target: Target
    duration: float
    rate: float | None  # requests per second; None means closed loop
    connections: int  # closed loop: the connections; open loop: the cap of the pool
    timeout: float  # per request, from the actual send


@dataclass
class Progress:
    """Counters that the live progress line reads while the run goes on."""

    dispatched: int = 0
    started_at: float = 0.0
    stop: bool = False  # set on Ctrl-C: stop sending, drain what is in flight, report what ran
    stats: Stats = field(default_factory=Stats)  # the run records into this one, so progress sees it live


@dataclass
class RunResult:
    mode: str  # "open" or "closed"
    rate: float | None
    duration: float
    connections: int
    started_monotonic: float  # clock() (CLOCK_MONOTONIC) of the first scheduled request
    scheduled: int  # open loop: requests due in the window; closed loop: requests sent
    dispatched: int
    dispatch_seconds: float  # open loop: from start to the last request written to a connection
    elapsed: float  # from start until the last response or error
    cpu_seconds: float  # this process's CPU time during the run
    peak_connections: int
    unfinished: int  # still in flight after the drain: counted as timeouts
    stats: Stats = field(default_factory=Stats)
    processes: int = 1
    interrupted: bool = False


def _recorder_hook(
    recorder: WriteRecorder | None, template: RequestTemplate
) -> Callable[[float, str, str | None, int | None, bytes | None, str | None, str | None], None] | None:
    if recorder is None or not template.is_write:
        return None

    def record(  # noqa: PLR0917 - a private callback with one call shape
        offset: float,
        path: str,
        body: str | None,
        status: int | None,
        response_body: bytes | None,
        location: str | None,
        error: str | None,
    ) -> None:
        recorder.record(
            scheduled_at=offset,
            method=template.method,
            path=path,
            request_body=body,
            status=status,
            body=response_body,
            location=location,
            error=error,
        )

    return record


async def run_open(  # noqa: PLR0915 - one schedule loop reads best in one piece
    config: RunConfig, mix: Mix, recorder: WriteRecorder | None, progress: Progress, *, start_at: float | None = None
) -> RunResult:
    """`start_at` (time.monotonic()) lets several processes share one schedule, each with its phase."""
    if config.rate is None:
        raise ValueError("run_open needs a rate")
    loop = asyncio.get_running_loop()
    clock = time.monotonic
    rate, timeout, stats = config.rate, config.timeout, progress.stats
    pool = ConnectionPool(config.target, config.connections, timeout)
    choose = mix.chooser()
    total = max(1, round(rate * config.duration))
    cpu_before = time.process_time()
    start = start_at if start_at is not None else clock() + _START_DELAY
    progress.started_at = start
    in_flight: set[asyncio.Task[None]] = set()
    last_send = start

    async def one(scheduled: float) -> None:
        template = choose()
        request, path, body = template.build()
        hook = _recorder_hook(recorder, template)
        try:
            connection, waited = await pool.acquire()
            nonlocal last_send
            last_send = clock()
            if waited:
                stats.waited_for_connection += 1
            else:  # the generator's own delay: due -> on the socket, with a connection at hand
                stats.record_lag(last_send - scheduled)
            try:
                response = await connection.send(request, timeout, keep_body=hook is not None)
            finally:
                pool.release(connection)
        except RequestError as exc:
            stats.record_error(exc.kind, exc.detail)
            if hook is not None:
                hook(scheduled - start, path, body, None, None, None, str(exc))
            return
        stats.record_response(clock() - scheduled, response.status, response.size)
        if hook is not None:
            hook(scheduled - start, path, body, response.status, response.body, response.location, None)

    sent = 0
    while sent < total and not progress.stop:
        now = clock()
        due = min(total, int((now - start) * rate) + 1)
        while sent < due:
            scheduled = start + sent / rate
            task = loop.create_task(one(scheduled))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += 1
        progress.dispatched = sent
        # Sleep until the next one is due, but at least one timer tick: shorter sleeps round to zero
        # (uvloop's timers count milliseconds) and spin a core the server needs. Requests due within
        # the tick leave together, up to 1 ms late, and that lateness is in their latency.
        wait = start + sent / rate - clock()
        await asyncio.sleep(max(wait, _MIN_SLEEP) if wait > 0 else 0)

    if progress.stop:  # report the part of the schedule that ran
        total = sent
    unfinished = 0
    if in_flight:
        _, pending = await asyncio.wait(set(in_flight), timeout=timeout + 1.0)
        unfinished = len(pending)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if unfinished:
            stats.errors["timeout"] += unfinished
            stats.error_samples.setdefault("timeout", f"still unanswered {timeout:g}s after the schedule ended")
    pool.close()
    return RunResult(
        mode="open",
        rate=rate,
        duration=total / rate,
        connections=config.connections,
        started_monotonic=start,
        scheduled=total,
        dispatched=sent,
        dispatch_seconds=last_send - start,
        elapsed=clock() - start,
        cpu_seconds=time.process_time() - cpu_before,
        peak_connections=pool.peak,
        unfinished=unfinished,
        stats=stats,
        interrupted=progress.stop,
    )


async def run_closed(
    config: RunConfig, mix: Mix, recorder: WriteRecorder | None, progress: Progress, *, start_at: float | None = None
) -> RunResult:
    clock = time.monotonic
    timeout, stats, target = config.timeout, progress.stats, config.target
    choose = mix.chooser()
    cpu_before = time.process_time()
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - clock()))
    start = clock()
    deadline = start + config.duration
    progress.started_at = start
    peak = 0

    async def worker() -> None:
        nonlocal peak
        connection: Connection | None = None
        while clock() < deadline and not progress.stop:
            template = choose()
            request, path, body = template.build()
            hook = _recorder_hook(recorder, template)
            sent_at = clock()
            progress.dispatched += 1
            try:
                if connection is None or connection.closed:
                    connection = await Connection.open(target.host, target.port, timeout)
                    peak += 1
                response = await connection.send(request, timeout, keep_body=hook is not None)
            except RequestError as exc:
                stats.record_error(exc.kind, exc.detail)
                if hook is not None:
                    hook(sent_at - start, path, body, None, None, None, str(exc))
                if connection is None:
                    await asyncio.sleep(_RECONNECT_PAUSE)
                connection = None
                continue
            stats.record_response(clock() - sent_at, response.status, response.size)
            if hook is not None:
                hook(sent_at - start, path, body, response.status, response.body, response.location, None)
        if connection is not None:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(config.connections)))
    elapsed = clock() - start
    return RunResult(
        mode="closed",
        rate=None,
        duration=min(config.duration, elapsed),
        connections=config.connections,
        started_monotonic=start,
        scheduled=progress.dispatched,
        dispatched=progress.dispatched,
        dispatch_seconds=config.duration,
        elapsed=elapsed,
        cpu_seconds=time.process_time() - cpu_before,
        peak_connections=min(peak, config.connections),
        unfinished=0,
        stats=stats,
        interrupted=progress.stop,
    )
