"""`--processes N`: N generator processes share one schedule and merge their histograms.

One process runs on one core; past roughly 10,000 requests/s (or on a host whose cores are busy) a
single generator falls behind. Process k of N sends requests k, k+N, k+2N, ... of the schedule (its
own rate is rate/N, its first request k/rate after the common start), so together they keep the
exact arrival pattern of one generator. Each sends its `Stats` back in wire form; the parent merges
them (HDR histograms add exactly) and shows progress from shared counters.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, fields, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TextIO

from cityscale.loadtest.mix import TemplateSpec, build_mix
from cityscale.loadtest.runner import RunConfig, RunResult
from cityscale.loadtest.stats import Stats

_READY_TIMEOUT = 60.0  # a child imports and builds its mix: seconds at most, even on a busy host
_START_LEAD = 0.2  # from "all ready" to the first scheduled request
_COUNTERS = 3  # per child: sent, answered, errors


class GeneratorProcessError(RuntimeError):
    """A generator process died or did not answer in time."""


@dataclass(frozen=True)
class Plan:
    """What every generator process needs (picklable: the processes are spawned, not forked)."""

    config: RunConfig
    specs: list[TemplateSpec]
    token: str | None
    processes: int
    seed: int | None
    record_path: Path | None


def _child(index: int, plan: Plan, pipe: Connection, counters: Any) -> None:
    import asyncio

    import uvloop

    from cityscale.loadtest.runner import Progress, run_closed, run_open
    from cityscale.loadtest.writes import WriteRecorder

    config, count, seed, record_path = plan.config, plan.processes, plan.seed, plan.record_path
    mix = build_mix(
        plan.specs,
        config.target,
        plan.token,
        seed=None if seed is None else seed + index,
        seq_start=index + 1,
        seq_step=count,
    )
    if config.rate is not None:
        own = replace(config, rate=config.rate / count, connections=max(1, config.connections // count))
    else:
        share = config.connections // count + (1 if index < config.connections % count else 0)
        own = replace(config, connections=max(1, share))
    recorder = WriteRecorder(record_path, truncate=False) if record_path is not None else None
    pipe.send("ready")
    start: float = pipe.recv()
    progress = Progress()

    async def publish() -> None:
        while True:
            await asyncio.sleep(0.25)
            base = index * _COUNTERS
            counters[base] = progress.dispatched
            counters[base + 1] = progress.stats.responses
            counters[base + 2] = sum(progress.stats.errors.values())

    async def main() -> RunResult:
        # Ctrl-C reaches every process of the terminal's group, and the parent forwards it too:
        # each stops sending, drains, and reports the part that ran.
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, lambda: setattr(progress, "stop", True))
        publisher = asyncio.create_task(publish())
        try:
            if own.rate is not None:
                return await run_open(own, mix, recorder, progress, start_at=start + index / (own.rate * count))
            return await run_closed(own, mix, recorder, progress, start_at=start)
        finally:
            publisher.cancel()

    try:
        result = uvloop.run(main())
    finally:
        if recorder is not None:
            recorder.close()
    plain = {f.name: getattr(result, f.name) for f in fields(result) if f.name != "stats"}
    pipe.send((plain, result.stats.to_wire()))


def run_in_processes(plan: Plan, *, show_progress: bool, out: TextIO = sys.stderr) -> RunResult:
    config, processes = plan.config, plan.processes
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold an event loop
    counters = context.Array("q", _COUNTERS * processes, lock=False)
    pipes: list[Connection] = []
    children = []
    for index in range(processes):
        parent_end, child_end = context.Pipe()
        child = context.Process(
            target=_child,
            args=(index, plan, child_end, counters),
            name=f"loadtest-{index}",
            daemon=True,
        )
        child.start()
        pipes.append(parent_end)
        children.append(child)
    try:
        for index, pipe in enumerate(pipes):
            if not pipe.poll(_READY_TIMEOUT):
                raise GeneratorProcessError(f"generator process {index} did not start within {_READY_TIMEOUT:g}s")
            pipe.recv()
        start = time.monotonic() + _START_LEAD
        for pipe in pipes:
            pipe.send(start)
        interrupted = signal.signal(signal.SIGINT, lambda *_: _forward_interrupt(children))
        try:
            replies = _collect(pipes, children, counters, config, start, show_progress=show_progress, out=out)
        finally:
            signal.signal(signal.SIGINT, interrupted)
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
    return _merge(replies, config, start, processes)


def _forward_interrupt(children: list[Any]) -> None:
    for child in children:
        if child.pid is not None and child.is_alive():
            os.kill(child.pid, signal.SIGINT)


def _collect(
    pipes: list[Connection],
    children: list[Any],
    counters: Any,
    config: RunConfig,
    start: float,
    *,
    show_progress: bool,
    out: TextIO,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    deadline = start + config.duration + config.timeout + _READY_TIMEOUT
    replies: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    last_answered, on_terminal = 0, out.isatty()
    while len(replies) < len(pipes):
        if time.monotonic() > deadline:
            raise GeneratorProcessError("the generator processes did not finish in time")
        for index, pipe in enumerate(pipes):
            if index not in replies and pipe.poll(0):
                replies[index] = pipe.recv()
        for index, child in enumerate(children):
            if index not in replies and not child.is_alive() and not pipes[index].poll(0):
                raise GeneratorProcessError(f"generator process {index} died (exit status {child.exitcode})")
        if len(replies) < len(pipes):
            time.sleep(1.0 if show_progress else 0.1)
        if show_progress:
            sent = sum(counters[i] for i in range(0, len(counters), _COUNTERS))
            answered = sum(counters[i] for i in range(1, len(counters), _COUNTERS))
            errors = sum(counters[i] for i in range(2, len(counters), _COUNTERS))
            elapsed = min(max(0.0, time.monotonic() - start), config.duration)
            line = (
                f"{elapsed:5.1f}/{config.duration:g}s  sent {sent:,}  answered {answered:,}  "
                f"{answered - last_answered:,.0f} req/s  errors {errors:,}  ({len(pipes)} processes)"
            )
            last_answered = answered
            out.write(f"\r\x1b[K{line}" if on_terminal else f"{line}\n")
            out.flush()
    if show_progress and on_terminal:
        out.write("\n")
    return [replies[index] for index in range(len(pipes))]


def _merge(
    replies: list[tuple[dict[str, Any], dict[str, Any]]], config: RunConfig, start: float, processes: int
) -> RunResult:
    stats = Stats()
    for _, wire in replies:
        stats.merge(Stats.from_wire(wire))
    parts = [plain for plain, _ in replies]
    return RunResult(
        mode=parts[0]["mode"],
        rate=config.rate,
        duration=max(f["duration"] for f in parts),
        connections=config.connections,
        started_monotonic=start,
        scheduled=sum(f["scheduled"] for f in parts),
        dispatched=sum(f["dispatched"] for f in parts),
        dispatch_seconds=max(f["dispatch_seconds"] for f in parts),
        elapsed=max(f["started_monotonic"] + f["elapsed"] for f in parts) - start,
        cpu_seconds=sum(f["cpu_seconds"] for f in parts),
        peak_connections=sum(f["peak_connections"] for f in parts),
        unfinished=sum(f["unfinished"] for f in parts),
        stats=stats,
        processes=processes,
        interrupted=any(f["interrupted"] for f in parts),
    )
