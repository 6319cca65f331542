"""Run scenarios one after another under a steady load and collect what each one showed.

For each scenario: `before` seconds of plain load; the fault (held `hold` seconds when it is a
condition, a single event otherwise); repair; poll until the broken part is healthy again (the recovery
time); `after` seconds of load; then, with writes paused and none in flight, the consistency checks.
With `interval`, each scenario starts on the next multiple of it (one fault per interval) and the list
is cycled until `duration` has passed.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from cityscale.chaos.checks import Check, PhaseStats, Window, load_checks, phase_stats, split
from cityscale.chaos.consistency import durability_checks, staleness_checks
from cityscale.chaos.driver import LoadDriver, LoadPlan, OpenLoopDriver, RequestRecord, SendLag
from cityscale.chaos.scenarios import FaultContext, Scenario
from cityscale.chaos.target import StackTarget

RECOVERY_LIMIT = 120.0
WRITES_IDLE_LIMIT = 30.0


@dataclass(frozen=True)
class RunConfig:
    rate_per_minute: float = 40_000
    before: float = 10.0
    hold: float = 10.0
    after: float = 10.0
    interval: float | None = None  # one fault per interval (soak); None: back to back
    duration: float | None = None  # cycle the scenarios until this many seconds (soak); None: each once
    keys: int = 40
    write_share: float = 0.05
    # Load before the first fault: a freshly started stack answers 667 req/s slowly for its first ~3 s
    # (empty caches, pools still connecting), which is not what the first scenario's "before" measures.
    warmup: float = 5.0


@dataclass
class ScenarioResult:
    scenario: Scenario
    started_at: float  # wall clock
    phases: dict[str, PhaseStats]
    recovery_seconds: float | None
    checks: list[Check]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.recovery_seconds is not None and all(c.passed for c in self.checks)


@dataclass
class RunResult:
    url: str
    rate_per_minute: float
    achieved_per_minute: float
    not_sent: int
    results: list[ScenarioResult]
    seconds: float
    send_lag: SendLag = field(default_factory=SendLag)
    cpu_seconds: float = 0.0  # this process's CPU over the run: the load driver, plus the checks between faults

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results) and bool(self.results)


async def prepare_keys(target: StackTarget, count: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Create `count` cities the run owns and may overwrite; and the ids of existing cities to read."""
    headers = {"Authorization": f"Bearer {target.token}"}
    async with httpx.AsyncClient(base_url=target.url, timeout=10) as client:
        listing = await client.get("/api/cities", params={"limit": 1000})
        listing.raise_for_status()
        read_ids = tuple(int(city["id"]) for city in listing.json())
        keys = []
        for n in range(count):
            body = {"city_name": f"Chaosville {n}", "country": "Nowhere", "state": "Chaos", "population": 0}
            created = await client.post("/api/cities", json=body, headers=headers)
            created.raise_for_status()
            keys.append(int(created.json()["id"]))
    return tuple(keys), read_ids


async def run(
    target: StackTarget,
    scenarios: list[Scenario],
    config: RunConfig,
    *,
    say: Callable[[str], None] = print,
    make_driver: Callable[[LoadPlan], LoadDriver] = OpenLoopDriver,
) -> RunResult:
    keys, read_ids = await prepare_keys(target, config.keys)
    per_scenario = config.before + config.hold + config.after + RECOVERY_LIMIT + 60
    budget = (config.duration or per_scenario * len(scenarios)) + per_scenario + config.warmup
    rate = config.rate_per_minute / 60
    plan = LoadPlan(
        base_url=target.url,
        token=target.token,
        keys=keys,
        read_ids=read_ids,
        rate=rate,
        write_share=config.write_share,
        max_seconds=budget,
        max_requests=int(budget * rate) + 1,
    )
    driver = make_driver(plan)
    context = FaultContext(keys=keys, max_replica_lag=5.0)
    started = time.monotonic()
    cpu_before = time.process_time()
    driver.start()
    results: list[ScenarioResult] = []
    try:
        await asyncio.sleep(config.warmup)
        order = itertools.cycle(scenarios) if config.duration else iter(scenarios)
        for number, scenario in enumerate(order):
            slot = time.monotonic()
            if config.interval is not None:
                slot = max(slot, started + config.warmup + number * config.interval)
            if config.duration is not None and slot - started >= config.duration:
                break  # the next fault would start after the soak's end
            await asyncio.sleep(slot - time.monotonic())
            say(f"scenario {scenario.name}: {scenario.action}")
            result = await run_one(target, scenario, config, driver, context)
            results.append(result)
            say(f"scenario {scenario.name}: {'pass' if result.passed else 'FAIL'}")
    finally:
        records = await driver.stop()
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu_before
    sent = [r for r in records if r.status != -1]
    return RunResult(
        url=target.url,
        rate_per_minute=config.rate_per_minute,
        achieved_per_minute=round(len(sent) / elapsed * 60, 1) if elapsed else 0.0,
        not_sent=len(records) - len(sent),
        results=results,
        seconds=round(elapsed, 1),
        send_lag=driver.lag,
        cpu_seconds=round(cpu, 1),
    )


async def run_one(
    target: StackTarget, scenario: Scenario, config: RunConfig, driver: LoadDriver, context: FaultContext
) -> ScenarioResult:
    wall_start = time.time()
    t_start = time.monotonic()
    await asyncio.sleep(config.before)
    fault = scenario.make_fault(context)
    t_fault = time.monotonic()
    notes = []
    await fault.inject(target)
    if scenario.holds:
        await asyncio.sleep(config.hold)
        await fault.repair(target)
    t_repaired = time.monotonic()
    recovered_at = await _wait_healthy(fault.healthy, target)
    t_healthy = recovered_at or time.monotonic()
    recovery = round(recovered_at - t_repaired, 2) if recovered_at is not None else None
    if recovery is None:
        notes.append(f"not healthy again within {RECOVERY_LIMIT:g} s")
    observed_lag = getattr(fault, "observed_lag", None)
    if observed_lag:
        notes.append(f"replica lag reached {observed_lag:.1f} s before replay was resumed")
    await asyncio.sleep(config.after)
    t_end = time.monotonic()
    driver.pause_writes()
    try:
        if not await driver.wait_writes_idle(WRITES_IDLE_LIMIT):
            notes.append("writes still in flight after the idle limit")
        records: list[RequestRecord] = [r for r in driver.records if r.due >= t_start]
        phases_records = split(records, Window(t_start, t_fault, t_healthy, t_end))
        checks = load_checks(scenario, phases_records)
        if recovery is not None:
            durable, primary = await durability_checks(target, list(driver.records))
            checks += durable
            checks += await staleness_checks(target, list(driver.records), primary, scenario.staleness_bound)
    finally:
        driver.resume_writes()
    return ScenarioResult(
        scenario=scenario,
        started_at=wall_start,
        phases={name: phase_stats(rs) for name, rs in phases_records.items()},
        recovery_seconds=recovery,
        checks=checks,
        notes=notes,
    )


async def _wait_healthy(probe: Callable[[StackTarget], Awaitable[bool]], target: StackTarget) -> float | None:
    deadline = time.monotonic() + RECOVERY_LIMIT
    while time.monotonic() < deadline:
        if await probe(target):
            return time.monotonic()
        await asyncio.sleep(0.1)
    return None
