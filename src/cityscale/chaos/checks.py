"""What the runner checks for one scenario: errors and latency per phase, and the expectation's rules.

Pure functions over the recorded requests and the phase boundaries, so they are tested without a stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cityscale.chaos.driver import NOT_SENT, RETRIED, RequestRecord
from cityscale.chaos.scenarios import IN_FLIGHT_ALLOWANCE, Scenario, WriteRule

PHASES = ("before", "during", "after")
READ_OK = (200, 304)
WRITE_OK = (200,)


@dataclass(frozen=True)
class Window:
    """Phase boundaries on the monotonic clock: before [start, fault), during [fault, healthy), after."""

    start: float
    fault: float
    healthy: float
    end: float

    def phase_of(self, due: float) -> str | None:
        if self.start <= due < self.fault:
            return "before"
        if self.fault <= due < self.healthy:
            return "during"
        if self.healthy <= due < self.end:
            return "after"
        return None


@dataclass
class PhaseStats:
    reads: int = 0
    read_errors: int = 0
    writes: int = 0
    write_errors: int = 0
    not_sent: int = 0
    retried: int = 0  # requests sent a second time after a kept-alive connection closed unanswered
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    error_statuses: dict[str, int] = field(default_factory=dict)
    error_examples: list[str] = field(default_factory=list)  # the first few error answers, for diagnosis


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    observed: str
    passed: bool


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def split(records: list[RequestRecord], window: Window) -> dict[str, list[RequestRecord]]:
    phases: dict[str, list[RequestRecord]] = {p: [] for p in PHASES}
    for record in records:
        phase = window.phase_of(record.due)
        if phase is not None:
            phases[phase].append(record)
    return phases


def is_error(record: RequestRecord) -> bool:
    return record.status not in (READ_OK if record.kind == "read" else WRITE_OK)


def phase_stats(records: list[RequestRecord]) -> PhaseStats:
    stats = PhaseStats()
    latencies = []
    for record in records:
        if record.status == NOT_SENT:
            stats.not_sent += 1
            continue
        latencies.append(record.latency)
        stats.retried += record.detail.startswith(RETRIED)
        error = is_error(record)
        if record.kind == "read":
            stats.reads += 1
            stats.read_errors += error
        else:
            stats.writes += 1
            stats.write_errors += error
        if error:
            label = f"{record.kind} {record.status or 'no answer'}"
            stats.error_statuses[label] = stats.error_statuses.get(label, 0) + 1
            if len(stats.error_examples) < 3:
                stats.error_examples.append(f"{record.kind} {record.path} -> {record.status}: {record.detail}")
    stats.p50_ms = round(percentile(latencies, 0.50) * 1000, 1)
    stats.p99_ms = round(percentile(latencies, 0.99) * 1000, 1)
    stats.max_ms = round(max(latencies, default=0.0) * 1000, 1)
    return stats


def load_checks(scenario: Scenario, phases: dict[str, list[RequestRecord]]) -> list[Check]:
    """Read errors (none, in any phase), write errors by the scenario's rule, nothing failing after."""
    sent = {p: [r for r in rs if r.status != NOT_SENT] for p, rs in phases.items()}
    checks = []
    read_errors = {p: sum(is_error(r) for r in rs if r.kind == "read") for p, rs in sent.items()}
    checks.append(
        Check(
            "read errors",
            "0 in every phase",
            ", ".join(f"{p} {n}" for p, n in read_errors.items()),
            not any(read_errors.values()),
        )
    )
    writes = {p: [r for r in rs if r.kind == "write"] for p, rs in sent.items()}
    failed = {p: [r for r in rs if is_error(r)] for p, rs in writes.items()}
    outside = len(failed["before"]) + len(failed["after"])
    during = failed["during"]
    observed = f"before {len(failed['before'])}, during {len(during)}, after {len(failed['after'])}"
    rule = scenario.write_rule
    if rule is WriteRule.NONE:
        checks.append(Check("write errors", "0 in every phase", observed, not outside and not during))
    elif rule is WriteRule.IN_FLIGHT:
        checks.append(
            Check(
                "write errors",
                f"0 before and after; during at most {IN_FLIGHT_ALLOWANCE} (in flight on the killed instance)",
                observed + f" (statuses {_statuses(during)})",
                not outside and len(during) <= IN_FLIGHT_ALLOWANCE,
            )
        )
    else:
        limit = scenario.write_latency_limit() or 0.0
        bad = [r for r in during if r.status != 503 or not r.retry_after or r.latency > limit]
        slowest = max((r.latency for r in during), default=0.0)
        checks.append(
            Check(
                "write errors",
                f"0 before and after; during only 503 + Retry-After within {limit:g} s",
                observed + f"; during: statuses {_statuses(during)}, slowest {slowest:.2f} s, {len(bad)} not so",
                not outside and not bad,
            )
        )
        if rule is WriteRule.POOL_503:
            hung = [r for r in writes["during"] if r.latency > limit]
            checks.append(
                Check(
                    "writes never hang",
                    f"every write answered within {limit:g} s",
                    f"{len(hung)} slower, slowest {max((r.latency for r in writes['during']), default=0):.2f} s",
                    not hung,
                )
            )
    return checks


def _statuses(records: list[RequestRecord]) -> str:
    counts: dict[int, int] = {}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    return ", ".join(f"{s or 'no answer'}x{n}" for s, n in sorted(counts.items())) or "none"
