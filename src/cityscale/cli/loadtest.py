"""`cityscale loadtest URL`: SLO-gated load verification (open loop by default with --rate)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from cityscale.cli import CliError

EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _BadInput(CliError):
    """Bad input, told apart from a failed gate by its exit status."""

    exit_code = EXIT_BAD_INPUT


def _bad_input(message: str) -> CliError:
    return _BadInput(message)


def _parse(parser: Any, text: str | None) -> Any:
    from cityscale.loadtest.units import UnitError

    if text is None:
        return None
    try:
        return parser(text)
    except UnitError as exc:
        raise _bad_input(str(exc)) from None


@click.command("loadtest")
@click.argument("url")
@click.option(
    "--rate", metavar="N/UNIT", help="Open loop: requests at a constant arrival rate, e.g. 40000/min or 700/s."
)
@click.option("--duration", default="10s", show_default=True, metavar="TIME", help="How long to send, e.g. 60s, 2m.")
@click.option(
    "--connections",
    "-c",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Without --rate: closed loop over N connections (default 10, like autocannon). "
    "With --rate: the most connections to open (default 256).",
)
@click.option("--timeout", default="10s", show_default=True, metavar="TIME", help="Per request, from its send.")
@click.option(
    "--request",
    "-r",
    "requests",
    multiple=True,
    metavar="'W METHOD PATH [BODY]'",
    help="A weighted request of the mix (repeat it), e.g. -r '90 GET /api/cities/{id:1-1000}'. "
    "Placeholders: {id:LO-HI}, {pick:a|b}, {seq}. Writes send API_TOKEN from the environment.",
)
@click.option(
    "--mix",
    "mix_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML file of [[request]] tables (weight, method, path, body): see docs/loadtest.md.",
)
@click.option("--seed", type=int, default=None, help="Seed of the random ids and choices, to repeat a run exactly.")
@click.option(
    "--record-writes",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one JSON line per write (id, status, response body) to this file.",
)
@click.option(
    "--max-error-rate", metavar="SHARE", help="Gate: failures (no response or 5xx) at most this share, e.g. 0 or 0.1%."
)
@click.option("--p99", "p99_text", metavar="TIME", help="Gate: p99 latency at most this, e.g. 10ms.")
@click.option(
    "--min-rate", metavar="N/UNIT", help="Gate: at least this many requests sent per unit (the generator kept up)."
)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Generator processes sharing the schedule (one core each); for rates one process cannot keep.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the readable report.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress on stderr.")
def command(  # noqa: PLR0917 - click passes every option as an argument
    url: str,
    rate: str | None,
    duration: str,
    connections: int | None,
    timeout: str,
    requests: tuple[str, ...],
    mix_file: Path | None,
    seed: int | None,
    record_writes: Path | None,
    max_error_rate: str | None,
    p99_text: str | None,
    min_rate: str | None,
    processes: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Send load to URL and check it against SLO gates.

    \b
    Open loop (--rate): requests leave on a fixed schedule whatever the server does, and each
    latency counts from its scheduled send, so stalls are not hidden (no coordinated omission).
    Closed loop (no --rate): N connections send back to back, like autocannon.
    Without --request or --mix, every request is GET URL; with them, paths are joined to URL.

    \b
    Example: 40,000 requests a minute of a 95/5 read/write mix, gated:
      API_TOKEN=... cityscale loadtest http://127.0.0.1:8080 --rate 40000/min --duration 60s \\
        -r '90 GET /api/cities/{id:1-1000}' -r '5 GET /api/cities?country={pick:France|Germany}' \\
        -r '5 POST /api/cities {"city_name": "Load {seq}", "country": "Testland"}' \\
        --max-error-rate 0 --p99 10ms

    Ctrl-C stops sending, waits for the requests in flight and reports the part that ran.

    Exit status: 0 every gate passed, 1 a gate failed, 2 bad input, 130 interrupted.
    """
    from cityscale.loadtest.gates import Gates
    from cityscale.loadtest.mix import MixError, build_mix, parse_file, parse_flag
    from cityscale.loadtest.runner import RunConfig
    from cityscale.loadtest.target import TargetError, parse_target
    from cityscale.loadtest.units import parse_duration, parse_fraction, parse_rate
    from cityscale.loadtest.writes import WriteRecorder

    token = os.environ.get("API_TOKEN") or None
    try:
        target = parse_target(url)
        specs = [parse_flag(text, i) for i, text in enumerate(requests, start=1)]
        if mix_file is not None:
            specs += parse_file(mix_file)
        mix = build_mix(specs, target, token, seed=seed)
    except (TargetError, MixError) as exc:
        raise _bad_input(str(exc)) from None
    rate_per_second = _parse(parse_rate, rate)
    duration_s = _parse(parse_duration, duration)
    timeout_s = _parse(parse_duration, timeout)
    if not duration_s > 0 or not timeout_s > 0:
        raise _bad_input("--duration and --timeout must be more than zero")
    p99_s = _parse(parse_duration, p99_text)
    gates = Gates(
        max_error_rate=_parse(parse_fraction, max_error_rate),
        p99_ms=p99_s * 1000 if p99_s is not None else None,
        min_rate=_parse(parse_rate, min_rate),
    )
    config = RunConfig(
        target=target,
        duration=duration_s,
        rate=rate_per_second,
        connections=connections or (256 if rate_per_second is not None else 10),
        timeout=timeout_s,
    )
    recorder = None
    if record_writes is not None:
        try:
            recorder = WriteRecorder(record_writes)
        except ValueError as exc:
            raise _bad_input(str(exc)) from None
    if processes > 1:
        if recorder is not None:
            recorder.close()  # emptied and known writable; the processes append to it
        result = _run_processes(config, specs, token, processes, seed, record_writes, show_progress=not quiet)
    else:
        try:
            result = _run(config, mix, recorder, show_progress=not quiet)
        finally:
            if recorder is not None:
                recorder.close()
    passed = _report(url, result, gates, mix.describe(), record_writes, as_json=as_json)
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)  # a cut-short run is no verdict, whatever its gates say
    if not passed:
        sys.exit(EXIT_GATE_FAILED)  # click swallows ctx.exit codes outside standalone mode


def _report(
    url: str, result: Any, gates: Any, mix: list[dict[str, object]], record_writes: Path | None, *, as_json: bool
) -> bool:
    """Print the report; True when every gate passed."""
    import orjson

    from cityscale.loadtest.gates import evaluate, generator_health
    from cityscale.loadtest.report import render_text, to_document

    health = generator_health(result)
    checks = evaluate(result, gates)
    document = to_document(url, result, health, checks, mix)
    if record_writes is not None:
        with record_writes.open("rb") as lines:
            count = sum(1 for _ in lines)
        document["writes_recorded"] = {"file": str(record_writes), "count": count}
    if as_json:
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render_text(document))
    return bool(document["passed"])


def _run_processes(  # noqa: PLR0917 - a private step of the command
    config: Any,
    specs: Any,
    token: str | None,
    processes: int,
    seed: int | None,
    record: Path | None,
    *,
    show_progress: bool,
) -> Any:
    from cityscale.loadtest.processes import GeneratorProcessError, Plan, run_in_processes

    plan = Plan(config, specs, token, processes, seed, record)
    try:
        return run_in_processes(plan, show_progress=show_progress)
    except GeneratorProcessError as exc:
        raise CliError(str(exc)) from None


def _run(config: Any, mix: Any, recorder: Any, *, show_progress: bool) -> Any:
    import uvloop

    from cityscale.loadtest.live import show_progress as live
    from cityscale.loadtest.runner import Progress, run_closed, run_open

    async def main() -> Any:
        progress = Progress()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, lambda: setattr(progress, "stop", True))
        ticker = asyncio.create_task(live(progress, config.duration)) if show_progress else None
        try:
            runner = run_open if config.rate is not None else run_closed
            return await runner(config, mix, recorder, progress)
        finally:
            if ticker is not None:
                ticker.cancel()
                if sys.stderr.isatty():
                    sys.stderr.write("\n")

    return uvloop.run(main())
