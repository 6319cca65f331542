"""The SLO verdict, and whether the generator itself kept up (so a slow generator is not blamed on the server)."""

from __future__ import annotations

from dataclasses import dataclass

from cityscale.loadtest.runner import RunResult

# The generator is the bottleneck when it burns nearly a whole core (one process, one core) or when
# requests that found a free connection still left late: the event loop could not keep the schedule.
CPU_SATURATED = 0.90
LATE_SEND_MS = 10.0
RATE_SHORTFALL = 0.97


@dataclass(frozen=True)
class Gates:
    max_error_rate: float | None = None
    p99_ms: float | None = None
    min_rate: float | None = None


@dataclass(frozen=True)
class GateResult:
    name: str
    limit: str
    measured: str
    passed: bool


@dataclass(frozen=True)
class GeneratorHealth:
    scheduled_rate: float | None
    achieved_rate: float  # requests put on the wire per second
    cpu_share: float  # of one core, per generator process (each runs on one core)
    send_lag_p99_ms: float
    bottleneck: bool
    reasons: tuple[str, ...]


def achieved_rate(result: RunResult) -> float:
    window = max(result.duration, result.dispatch_seconds)
    return result.dispatched / window if window > 0 else 0.0


def error_rate(result: RunResult) -> float:
    attempts = max(result.stats.attempts, result.scheduled if result.mode == "open" else 0)
    return result.stats.failures / attempts if attempts else 0.0


def generator_health(result: RunResult) -> GeneratorHealth:
    cpu_share = result.cpu_seconds / result.elapsed / result.processes if result.elapsed > 0 else 0.0
    lag = result.stats.dispatch_lag
    lag_p99 = lag.get_value_at_percentile(99) / 1000 if lag.get_total_count() else 0.0
    rate = achieved_rate(result)
    reasons = []
    if cpu_share >= CPU_SATURATED:
        reasons.append(f"it used {cpu_share:.0%} of a core" + (" per process" if result.processes > 1 else ""))
    if result.mode == "open":
        if lag_p99 > LATE_SEND_MS:
            reasons.append(f"p99 of its own send delay was {lag_p99:.1f} ms with a connection free")
        if result.rate and rate < RATE_SHORTFALL * result.rate and result.stats.waited_for_connection == 0:
            reasons.append(f"it sent {rate:,.0f}/s of {result.rate:,.0f}/s scheduled")
    return GeneratorHealth(result.rate, rate, cpu_share, lag_p99, bool(reasons), tuple(reasons))


def evaluate(result: RunResult, gates: Gates) -> list[GateResult]:
    checks = []
    if gates.max_error_rate is not None:
        measured = error_rate(result)
        checks.append(
            GateResult(
                "error rate", f"<= {gates.max_error_rate:.3%}", f"{measured:.3%}", measured <= gates.max_error_rate
            )
        )
    if gates.p99_ms is not None:
        measured_ms = result.stats.latency_ms()["p99"]
        answered = result.stats.responses > 0
        checks.append(
            GateResult(
                "p99 latency",
                f"<= {gates.p99_ms:g} ms",
                f"{measured_ms:.2f} ms" if answered else "no responses",
                answered and measured_ms <= gates.p99_ms,
            )
        )
    if gates.min_rate is not None:
        rate = achieved_rate(result)
        checks.append(GateResult("sent rate", f">= {gates.min_rate:,.1f}/s", f"{rate:,.1f}/s", rate >= gates.min_rate))
    return checks
