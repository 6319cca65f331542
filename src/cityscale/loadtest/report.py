"""The final report: a readable summary like autocannon's plus the SLO verdict, or one JSON document."""

from __future__ import annotations

from typing import Any

from cityscale.loadtest.gates import GateResult, GeneratorHealth, error_rate
from cityscale.loadtest.runner import RunResult

_KINDS = ("timeout", "reset", "refused", "protocol", "other")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1000
    raise AssertionError("unreachable")


def to_document(
    url: str, result: RunResult, health: GeneratorHealth, checks: list[GateResult], mix: list[dict[str, object]]
) -> dict[str, Any]:
    stats = result.stats
    elapsed = max(result.elapsed, 1e-9)
    return {
        "url": url,
        "mode": result.mode,
        "latency_measured_from": "scheduled send" if result.mode == "open" else "actual send",
        "rate_per_second": result.rate,
        "duration_seconds": result.duration,
        "connections": result.connections,
        "processes": result.processes,
        "interrupted": result.interrupted,
        "mix": mix,
        "started_monotonic": result.started_monotonic,
        "elapsed_seconds": result.elapsed,
        "requests": {
            "scheduled": result.scheduled,
            "sent": result.dispatched,
            "responses": stats.responses,
            "errors": sum(stats.errors.values()),
            "failures": stats.failures,
            "error_rate": error_rate(result),
            "per_second": stats.responses / elapsed,
            "waited_for_connection": stats.waited_for_connection,
            "unfinished": result.unfinished,
        },
        "latency_ms": stats.latency_ms(),
        "bytes": {"received": stats.bytes_received, "per_second": stats.bytes_received / elapsed},
        "status_codes": {str(code): n for code, n in sorted(stats.statuses.items())},
        "errors": {kind: stats.errors.get(kind, 0) for kind in _KINDS},
        "error_samples": stats.error_samples,
        "generator": {
            "scheduled_rate": health.scheduled_rate,
            "achieved_rate": health.achieved_rate,
            "cpu_share_of_one_core": health.cpu_share,
            "send_lag_p99_ms": health.send_lag_p99_ms,
            "peak_connections": result.peak_connections,
            "bottleneck": health.bottleneck,
            "reasons": list(health.reasons),
        },
        "slo": [{"gate": c.name, "limit": c.limit, "measured": c.measured, "passed": c.passed} for c in checks],
        "passed": all(c.passed for c in checks),
    }


def render_text(doc: dict[str, Any]) -> str:  # noqa: PLR0912 - one section after another
    requests, latency, generator = doc["requests"], doc["latency_ms"], doc["generator"]
    lines = []
    if doc["mode"] == "open":
        lines.append(
            f"open loop: {doc['rate_per_second']:,.1f} req/s scheduled for {doc['duration_seconds']:g}s "
            f"({requests['scheduled']:,} requests), up to {doc['connections']} connections"
        )
    else:
        lines.append(f"closed loop: {doc['connections']} connections for {doc['duration_seconds']:g}s")
    if doc["interrupted"]:
        lines.append(f"INTERRUPTED: this covers the first {doc['duration_seconds']:.1f}s only, and is no verdict")
    lines.extend(f"  {entry['share']:6.1%}  {entry['request']}" for entry in doc["mix"])
    lines.append("")
    names = ("p50", "p90", "p99", "p99.9", "max", "mean")
    lines.append(f"{'Latency (ms, from ' + doc['latency_measured_from'] + ')':34}" + "".join(f"{n:>10}" for n in names))
    lines.append(" " * 34 + "".join(f"{latency[n]:>10.2f}" for n in names))
    lines.append("")
    lines.append(
        f"Requests    {requests['sent']:,} sent, {requests['responses']:,} answered, {requests['errors']:,} errors; "
        f"{requests['per_second']:,.1f} req/s over {doc['elapsed_seconds']:.1f}s"
    )
    lines.append(f"Throughput  {_size(doc['bytes']['per_second'])}/s ({_size(doc['bytes']['received'])} received)")
    if requests["waited_for_connection"]:
        lines.append(
            f"Queueing    {requests['waited_for_connection']:,} requests found all {doc['connections']} connections "
            "busy and waited (counted in their latency)"
        )
    lines.append("Status codes")
    lines.extend(f"  {code}  {n:>10,}" for code, n in doc["status_codes"].items())
    if not doc["status_codes"]:
        lines.append("  (no responses)")
    lines.append("Errors")
    for kind, n in doc["errors"].items():
        if n:
            lines.append(f"  {kind:<9}{n:>10,}  e.g. {doc['error_samples'].get(kind, '')}")
    if not any(doc["errors"].values()):
        lines.append("  none")
    lines.append("")
    scheduled = generator["scheduled_rate"]
    planned = f"scheduled {scheduled:,.1f}/s, " if scheduled else ""
    summary = (
        f"Generator   {planned}sent {generator['achieved_rate']:,.1f}/s, "
        f"CPU {generator['cpu_share_of_one_core']:.0%} of one core"
        + (f" per process ({doc['processes']} processes)" if doc["processes"] > 1 else "")
    )
    if doc["mode"] == "open":
        summary += f", own send delay p99 {generator['send_lag_p99_ms']:.2f} ms"
    lines.append(summary)
    if generator["bottleneck"]:
        lines.append(
            "  the generator itself was the bottleneck ("
            + "; ".join(generator["reasons"])
            + "): the numbers above understate what the server can do; add --processes or another machine"
        )
    else:
        lines.append("  the generator kept up: the numbers above are the server's")
    if doc["slo"]:
        lines.append("SLO")
        for gate in doc["slo"]:
            mark = "pass" if gate["passed"] else "FAIL"
            lines.append(f"  {mark}  {gate['gate']}: {gate['measured']} (limit {gate['limit']})")
        failed = [g["gate"] for g in doc["slo"] if not g["passed"]]
        lines.append("Verdict: PASS" if not failed else f"Verdict: FAIL ({', '.join(failed)})")
    else:
        lines.append("SLO: no gates given (--max-error-rate, --p99, --min-rate)")
    return "\n".join(lines)
