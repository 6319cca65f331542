"""`cityscale migrate`: apply the schema migrations (idempotent; safe to run from many instances at once)."""

from __future__ import annotations

import asyncio

import click

from cityscale.cli.options import database_errors_explained, database_url


@click.command("migrate")
def command() -> None:
    """Bring the database schema up to date.

    Uses DATABASE_URL or DB_HOST/DB_PORT/DB_USER/DB_PASSWORD/DB_NAME. Running it again does nothing;
    running it from several instances at once is safe (they take turns on an advisory lock).
    """
    from cityscale.store.migrate import migrate

    url = database_url()

    def waiting() -> None:
        click.echo("cityscale: another migration is running; waiting for it to finish", err=True)

    with database_errors_explained("migrate the database"):
        status = asyncio.run(migrate(url, on_wait=waiting))
    if status.current == status.head:
        click.echo(f"schema already at {status.head}; nothing to do")
    else:
        click.echo(f"schema migrated from {status.current or 'empty'} to {status.head}")
