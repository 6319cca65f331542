"""The run's report: a table per scenario (expectation, observed, pass/fail, latency per phase, recovery)
as markdown for people and JSON for machines."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
from typing import Any

import psutil

from cityscale.chaos.checks import PHASES
from cityscale.chaos.driver import LATE
from cityscale.chaos.runner import RunResult, ScenarioResult


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores, {memory:.1f} GiB, {platform.platform()}"


def as_json(run: RunResult) -> dict[str, Any]:
    return {
        "passed": run.passed,
        "url": run.url,
        "machine": machine(),
        "rate_per_minute": run.rate_per_minute,
        "achieved_per_minute": run.achieved_per_minute,
        "not_sent": run.not_sent,
        "sent_late": run.send_lag.late,
        "worst_send_lag_ms": round(run.send_lag.worst * 1000, 1),
        "client_cpu_seconds": run.cpu_seconds,
        "seconds": run.seconds,
        "scenarios": [_scenario_json(r) for r in run.results],
    }


def _scenario_json(result: ScenarioResult) -> dict[str, Any]:
    return {
        "name": result.scenario.name,
        "action": result.scenario.action,
        "expectation": result.scenario.expectation,
        "started_at": _when(result.started_at),
        "passed": result.passed,
        "recovery_seconds": result.recovery_seconds,
        "phases": {name: dataclasses.asdict(stats) for name, stats in result.phases.items()},
        "checks": [dataclasses.asdict(check) for check in result.checks],
        "notes": result.notes,
    }


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def as_markdown(run: RunResult) -> str:
    verdict = "PASS" if run.passed else "FAIL"
    passed = sum(r.passed for r in run.results)
    lines = [
        f"**{verdict}**: {passed}/{len(run.results)} scenarios passed in {run.seconds:g} s against {run.url}; "
        f"target {run.rate_per_minute:,.0f} req/min, achieved {run.achieved_per_minute:,.0f} req/min"
        + (f", {run.not_sent} requests not sent (every in-flight slot taken)" if run.not_sent else "")
        + ".",
        "",
        _generator_line(run),
        "",
        f"Machine: {machine()}.",
        "",
    ]
    for result in run.results:
        lines += _scenario_markdown(result)
    return "\n".join(lines)


def _generator_line(run: RunResult) -> str:
    """Whether the client kept up: what it could not send, what it sent late, what CPU it took."""
    lag = run.send_lag
    share = run.cpu_seconds / run.seconds * 100 if run.seconds else 0.0
    in_phases = sum(s.not_sent for r in run.results for s in r.phases.values())
    return (
        f"Load generator: {run.not_sent} requests not sent (no free slot; {in_phases} of them in scenario phases), "
        f"{lag.late} of {lag.sent:,} written "
        f"more than {LATE * 1000:g} ms after their due time (worst {lag.worst * 1000:.1f} ms); this process used "
        f"{run.cpu_seconds:g} s of CPU in {run.seconds:g} s ({share:.0f} % of one core, driver and checks)."
    )


def _scenario_markdown(result: ScenarioResult) -> list[str]:
    scenario = result.scenario
    recovery = f"{result.recovery_seconds:g} s" if result.recovery_seconds is not None else "not recovered"
    lines = [
        f"### {scenario.name}: {'pass' if result.passed else 'FAIL'} ({_when(result.started_at)})",
        "",
        f"Fault: {scenario.action}. Expectation: {scenario.expectation}. Recovery (fault repaired to part "
        f"healthy): {recovery}.",
        "",
        "| check | expected | observed | result |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.name} | {c.expected} | {c.observed} | {'pass' if c.passed else 'FAIL'} |" for c in result.checks]
    lines += [
        "",
        "| phase | reads | read errors | writes | write errors | not sent | retried | p50 ms | p99 ms | max ms "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in PHASES:
        s = result.phases[name]
        errors = ", ".join(f"{k}: {v}" for k, v in s.error_statuses.items()) or "-"
        lines.append(
            f"| {name} | {s.reads} | {s.read_errors} | {s.writes} | {s.write_errors} | {s.not_sent} | {s.retried} "
            f"| {s.p50_ms} | {s.p99_ms} | {s.max_ms} | {errors} |"
        )
    examples = [e for name in PHASES for e in result.phases[name].error_examples]
    lines += [f"\nError example: `{example}`" for example in examples[:4]]
    lines += [f"\nNote: {note}" for note in result.notes]
    lines.append("")
    return lines
