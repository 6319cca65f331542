"""Run the selected checks concurrently, each bounded in time, into one `Report`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from cityscale.doctor.context import Context
from cityscale.doctor.registry import Check, all_checks, select
from cityscale.doctor.report import Finding, Outcome, Report, skip


def run_checks(ctx: Context, only: Iterable[str] = (), skip_ids: Iterable[str] = ()) -> Report:
    """Every selected check's finding, in registry order.

    Checks bound their own I/O; the per-check deadline here is the backstop. Checks run in daemon
    threads so one that still overruns cannot keep the process alive after the report is printed.
    """
    selected = select(all_checks(), only, skip_ids)
    results: dict[str, tuple[Outcome, float]] = {}
    threads = []
    for chosen in selected:
        thread = threading.Thread(target=_run_one, args=(chosen, ctx, results), name=chosen.id, daemon=True)
        thread.start()
        threads.append((chosen, thread, time.monotonic()))
    report = Report()
    for chosen, thread, started in threads:
        thread.join(max(0.0, started + chosen.timeout - time.monotonic()))
        outcome, seconds = results.get(chosen.id, (skip(f"did not finish within {chosen.timeout:g} s"), chosen.timeout))
        report.findings.append(Finding(chosen.id, chosen.layer, chosen.title, outcome, seconds))
    return report


def _run_one(chosen: Check, ctx: Context, results: dict[str, tuple[Outcome, float]]) -> None:
    started = time.monotonic()
    try:
        outcome = chosen.run(ctx)
    except Exception as exc:  # noqa: BLE001 - a broken check must not hide the other findings
        outcome = skip(f"the check itself failed: {type(exc).__name__}: {exc}")
    results[chosen.id] = (outcome, time.monotonic() - started)
