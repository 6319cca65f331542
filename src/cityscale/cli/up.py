"""`cityscale up`: the whole architecture natively on one machine (no Docker), until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cityscale.cli import CliError

if TYPE_CHECKING:
    from cityscale.stack.supervisor import Stack


def _print_ready(stack: Stack) -> None:
    from cityscale.stack.banner import banner_lines

    click.echo("\n".join(banner_lines(stack)), err=True)


@click.command("up")
@click.option("--replicas", type=click.IntRange(0, 8), default=1, show_default=True, help="Streaming replicas.")
@click.option("--instances", type=click.IntRange(1, 16), default=2, show_default=True, help="API instances.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="nginx's public port.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the stack keeps databases, token and logs [default: $CITYSCALE_DATA_DIR/stack or ./.cityscale/stack].",
)
@click.option("--auto-ports", is_flag=True, help="Use free ports instead of failing when a port is taken.")
@click.option(
    "--seed-limit",
    type=click.IntRange(min=1),
    default=None,
    help="On the first run, load only this many cities (the largest), for quick trials.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="LOG_LEVEL of the API instances.",
)
@click.option("--nginx-workers", default="auto", show_default=True, help="nginx worker processes (a number or auto).")
@click.option(
    "--rate-limit",
    type=click.IntRange(1, 1_000_000),
    default=None,
    metavar="RPS",
    help="Limit each client address to RPS requests per second (a burst of RPS more at once); "
    "beyond it nginx answers 429. Off by default.",
)
def command(
    *,
    replicas: int,
    instances: int,
    port: int,
    data_dir: Path | None,
    auto_ports: bool,
    seed_limit: int | None,
    log_level: str,
    nginx_workers: str,
    rate_limit: int | None,
) -> None:
    """Run the whole architecture on this machine: nginx -> API instances -> PostgreSQL primary + replicas, Redis.

    \b
    The first run creates the databases (primary, replicas by pg_basebackup), migrates, loads the
    cities and generates the API token; later runs reuse all of it. Uses this machine's PostgreSQL,
    Redis and nginx (installed with apt when running as root). Ctrl-C or SIGTERM stops every part.
    """
    from cityscale.stack.nginx import NginxConfigError
    from cityscale.stack.process import StartupError
    from cityscale.stack.state import StackBusyError
    from cityscale.stack.supervisor import Stack, StackError
    from cityscale.stack.topology import PortConflictError, Topology, default_stack_dir

    if nginx_workers != "auto" and not (nginx_workers.isdigit() and 1 <= int(nginx_workers) <= 64):
        raise click.BadParameter("a number from 1 to 64, or auto", param_hint="--nginx-workers")
    topology = Topology(
        data_dir=(data_dir or default_stack_dir()).resolve(),
        replicas=replicas,
        instances=instances,
        port=port,
        auto_ports=auto_ports,
        seed_limit=seed_limit,
        log_level=log_level,
        nginx_workers=nginx_workers,
        rate_limit=rate_limit,
    )
    try:
        Stack(topology).run(on_ready=_print_ready)
    except (StackBusyError, PortConflictError, StartupError, NginxConfigError, StackError) as exc:
        # One line; a component's log tail stays in its log file, whose path the line names.
        raise CliError(str(exc).splitlines()[0].rstrip(":")) from None
    click.echo("cityscale: stopped; every part is down", err=True)
