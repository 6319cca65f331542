"""`cityscale status`: each component of a running `cityscale up`, its pid, port, health, replication lag."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("status")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The stack's data directory, as given to `cityscale up` [default: as `up`'s].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, components keyed by name.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Wait up to SECONDS for a starting `up` to have every part ready (e.g. right after launching it).",
)
def command(data_dir: Path | None, as_json: bool, wait: float) -> None:
    """Show every part of the running native stack and whether it is healthy.

    Exit status: 0 when everything is healthy, 1 when a part is unhealthy, `up` is still starting
    (not ready), or no `up` runs there.
    """
    from cityscale.stack.state import wait_until_ready
    from cityscale.stack.status import stack_status
    from cityscale.stack.topology import default_stack_dir

    directory = (data_dir or default_stack_dir()).resolve()
    if wait > 0:
        wait_until_ready(directory, wait)  # then report whatever is true, ready or not
    status = stack_status(directory)
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
    elif not status.running:
        click.echo(f"cityscale: no `cityscale up` is running on {directory}", err=True)
    else:
        readiness = "" if status.ready else "  (not ready: still starting or stopping its parts)"
        click.echo(f"cityscale up (pid {status.owner_pid}) on {directory}: {status.url}{readiness}")
        click.echo(f"{'component':<12} {'pid':>8} {'port':>6}  {'healthy':<8} detail")
        for part in status.components:
            pid = str(part.pid) if part.pid is not None else "-"
            click.echo(f"{part.name:<12} {pid:>8} {part.port:>6}  {'yes' if part.healthy else 'NO':<8} {part.detail}")
    if not status.healthy:
        # sys.exit, not click's Exit: `cityscale.cli.main` runs click with standalone_mode=False, where
        # an Exit's code is returned to it and dropped.
        sys.exit(1)
