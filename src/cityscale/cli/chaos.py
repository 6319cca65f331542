"""`cityscale chaos`: break parts of the running architecture under load and check the failure table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cityscale.cli import CliError

if TYPE_CHECKING:
    from cityscale.chaos.runner import RunConfig, RunResult
    from cityscale.chaos.scenarios import Scenario

QUICK = {"rate": 6000.0, "before": 1.5, "hold": 1.5, "after": 1.5, "keys": 20, "write_share": 0.1}


@click.command("chaos")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Start `cityscale up` on this data directory (created if missing) [default: a temporary one].",
)
@click.option("--attach", is_flag=True, help="Use the `cityscale up` already running on --data-dir instead.")
@click.option("--rate", type=click.FloatRange(60, 600_000), default=None, help="Requests per minute [40000].")
@click.option("--scenario", "scenarios", multiple=True, help="Run only this scenario (repeatable); see --list.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and their expectations, then exit.")
@click.option("--before", type=click.FloatRange(0.5, 600), default=None, help="Seconds of load before a fault [10].")
@click.option("--hold", type=click.FloatRange(0.5, 600), default=None, help="Seconds a held fault lasts [10].")
@click.option("--after", type=click.FloatRange(0.5, 600), default=None, help="Seconds of load after recovery [10].")
@click.option(
    "--soak",
    type=click.FloatRange(60, 86_400),
    default=None,
    help="Soak: cycle the scenarios this many seconds, one fault per --interval.",
)
@click.option(
    "--interval", type=click.FloatRange(10, 3600), default=60.0, show_default=True, help="Soak: seconds between faults."
)
@click.option("--quick", is_flag=True, help="The CI variant: each scenario once, seconds long, 6,000 req/min.")
@click.option(
    "--seed-limit",
    type=click.IntRange(10),
    default=2000,
    show_default=True,
    help="Cities seeded when starting a new stack.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the markdown report here.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON report here.",
)
def command(
    *,
    data_dir: Path | None,
    attach: bool,
    rate: float | None,
    scenarios: tuple[str, ...],
    list_only: bool,
    before: float | None,
    hold: float | None,
    after: float | None,
    soak: float | None,
    interval: float,
    quick: bool,
    seed_limit: int,
    report_path: Path | None,
    json_path: Path | None,
) -> None:
    """Run fault scenarios against the whole architecture under a read/write load, and check each one.

    Starts `cityscale up` (1 primary, 1 replica, Redis, 2 API instances, nginx), drives it through nginx
    at --rate with a read/write mix in which every write is recorded with its answer, and runs each
    scenario: load before, the fault, recovery, load after, then checks (errors per phase against the
    failure table, no lost acknowledged write on the primary and the replicas, no cache layer stale
    beyond the documented bound). Prints a table per scenario; exit status 0 only if every one passed.
    Traffic goes only to 127.0.0.1. See docs/reliability.md.
    """
    from cityscale.chaos import scenarios as catalogue

    if list_only:
        for scenario in catalogue.SCENARIOS:
            click.echo(f"{scenario.name:<16} {scenario.action}\n{'':<16} expect: {scenario.expectation}")
        return
    try:
        chosen = catalogue.by_names(list(scenarios))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if attach and data_dir is None:
        raise CliError("--attach needs --data-dir (the directory `cityscale up` runs on)")
    config = _config(rate=rate, before=before, hold=hold, after=after, soak=soak, interval=interval, quick=quick)
    result = _run(data_dir, attach, chosen, config, seed_limit)

    from cityscale.chaos.report import as_json, as_markdown

    markdown = as_markdown(result)
    click.echo(markdown)
    if report_path is not None:
        report_path.write_text(markdown + "\n")
    if json_path is not None:
        json_path.write_text(json.dumps(as_json(result), indent=2) + "\n")
    if not result.passed:
        sys.exit(1)


def _config(
    *,
    rate: float | None,
    before: float | None,
    hold: float | None,
    after: float | None,
    soak: float | None,
    interval: float,
    quick: bool,
) -> RunConfig:
    from cityscale.chaos.runner import RunConfig

    base = RunConfig()
    if quick:
        base = RunConfig(
            rate_per_minute=QUICK["rate"],
            before=QUICK["before"],
            hold=QUICK["hold"],
            after=QUICK["after"],
            keys=int(QUICK["keys"]),
            write_share=QUICK["write_share"],
            warmup=1.0,
        )
    if soak is not None:
        phase = interval / 6  # a fault per interval: before, held fault, after, checks in the rest
        base = RunConfig(before=phase, hold=phase, after=phase, interval=interval, duration=soak)
    return RunConfig(
        rate_per_minute=rate or base.rate_per_minute,
        before=before or base.before,
        hold=hold or base.hold,
        after=after or base.after,
        interval=base.interval,
        duration=base.duration,
        keys=base.keys,
        write_share=base.write_share,
        warmup=base.warmup,
    )


def _run(data_dir: Path | None, attach: bool, chosen: list[Scenario], config: RunConfig, seed_limit: int) -> RunResult:
    from cityscale.chaos.runner import run
    from cityscale.chaos.target import StackTarget, TargetError, started_stack

    def say(message: str) -> None:
        click.echo(f"cityscale chaos: {message}", err=True)

    # `kill` or a CI timeout (SIGTERM) must still stop the `up` we started: exit through the `finally`s.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    try:
        with contextlib.ExitStack() as stack:
            if attach:
                assert data_dir is not None  # noqa: S101 - checked by the caller
                target = StackTarget(data_dir.resolve())
                _ = target.state  # fails in one line when nothing runs there
            else:
                directory = data_dir.resolve() if data_dir else stack.enter_context(_temporary_dir()) / "stack"
                say(f"starting `cityscale up` on {directory}")
                target = stack.enter_context(started_stack(directory, replicas=1, instances=2, seed_limit=seed_limit))
            say(f"stack ready at {target.url}; {len(chosen)} scenario(s) at {config.rate_per_minute:,.0f} req/min")
            return asyncio.run(run(target, chosen, config, say=say))
    except TargetError as exc:
        raise CliError(str(exc)) from None


@contextlib.contextmanager
def _temporary_dir() -> Iterator[Path]:
    # The postgres user must be able to enter it (the clusters run as postgres when we are root).
    with tempfile.TemporaryDirectory(prefix="cityscale-chaos-") as name:
        path = Path(name)
        path.chmod(0o755)
        yield path
