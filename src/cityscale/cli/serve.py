"""`cityscale serve`: run one API instance (port 3000, as the original service)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from cityscale.cli import CliError


async def _check_schema(url: str, connect_timeout: float, *, migrate_first: bool) -> None:
    import asyncpg

    from cityscale.cli.options import database_errors_explained
    from cityscale.store.migrate import migrate, schema_status_of

    if migrate_first:
        with database_errors_explained("migrate the database before serving"):
            await migrate(url, connect_timeout=connect_timeout)
        return
    with database_errors_explained("check the database schema before serving"):
        conn = await asyncpg.connect(url, timeout=connect_timeout)
        try:
            status = await schema_status_of(conn)
        finally:
            await conn.close()
    if status.current is None:
        raise CliError("the database has no cities schema: run `cityscale migrate` first (or `serve --migrate`)")
    if not status.at_head:
        raise CliError(
            f"the database schema is at {status.current}, this version needs {status.head}: "
            "run `cityscale migrate` first (or `serve --migrate`)"
        )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes. Prefer more instances behind nginx (one process each).",
)
@click.option("--migrate", "migrate_first", is_flag=True, help="Apply pending migrations before serving.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the embedded database lives when none is configured [default: ./.cityscale].",
)
def command(host: str, port: int, workers: int, migrate_first: bool, data_dir: Path | None) -> None:
    """Serve the cities API.

    \b
    With DATABASE_URL or DB_HOST set, serves that database (its schema must be migrated).
    With neither, creates (first run) or reuses a private PostgreSQL in ./.cityscale, migrated and
    seeded with real cities, and stops it again on exit.
    """
    from cityscale.api.server import run_server
    from cityscale.settings import load_settings
    from cityscale.stack.ports import port_holder

    settings = load_settings()
    holder = port_holder(port)
    if holder is not None:
        raise CliError(f"cannot listen on {host}:{port}: {holder.describe()}")
    metrics_dir = None
    created_metrics_dir = False
    if workers > 1:
        # Before the schema check imports prometheus_client: workers write where /metrics sums them.
        from cityscale.observability.multiprocess import MULTIPROC_ENV, prepare_multiprocess_dir

        created_metrics_dir = not os.environ.get(MULTIPROC_ENV)
        metrics_dir = prepare_multiprocess_dir()
    embedded = None
    try:
        if settings.database_configured:
            url = settings.primary_url
        else:
            from cityscale.stack.embedded import default_data_dir, start_embedded

            embedded, url = start_embedded(data_dir or default_data_dir())
            os.environ["DATABASE_URL"] = url  # the workers read their settings from the environment
        asyncio.run(_check_schema(url, settings.DB_CONNECT_TIMEOUT, migrate_first=migrate_first))
        if not settings.writes_enabled:
            click.echo("cityscale: API_TOKEN is not set, so writes are refused (403); reads are open", err=True)
        click.echo(f"cityscale: serving http://{host}:{port}/api/cities ({workers} worker(s))", err=True)
        run_server(host=host, port=port, workers=workers, log_level=settings.LOG_LEVEL)
    finally:
        if metrics_dir is not None:
            from cityscale.observability.multiprocess import remove_multiprocess_dir

            remove_multiprocess_dir(metrics_dir, created=created_metrics_dir)
        if embedded is not None:
            click.echo("cityscale: stopping the embedded database", err=True)
            embedded.stop()
