"""`cityscale migrate`: apply the schema migrations (idempotent; safe to run from many instances at once)."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import click

from cityscale.cli import CliError
from cityscale.cli.options import database_url

# Pause between two connection attempts while waiting: short, since a container orchestrator's
# database usually becomes reachable within seconds, and one attempt is cheap.
RETRY_PAUSE = 0.5


def where(url: str) -> str:
    """host:port/db of a URL, for messages: never the password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


async def wait_for_database(url: str, seconds: float) -> None:
    """Return once the server accepts a connection at `url`; CliError after `seconds`.

    Retried: what a database that is still starting looks like from a client (refused, unknown host
    while the container's DNS name is not yet registered, "starting up", a timeout). Not retried: a
    wrong password or database name, which waiting cannot fix; migrate reports those itself.
    """
    import asyncpg

    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    attempts = 0
    while True:
        attempts += 1
        remaining = deadline - loop.time()
        try:
            connection = await asyncpg.connect(url, timeout=max(0.5, min(5.0, remaining)))
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            last_error = str(exc) or type(exc).__name__
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise CliError(f"the database at {where(url)} refused the connection: {exc}") from None
        else:
            await connection.close()
            return
        if loop.time() + RETRY_PAUSE >= deadline:
            raise CliError(
                f"the database at {where(url)} did not accept connections within {seconds:g}s "
                f"({attempts} attempts; last error: {last_error})"
            )
        await asyncio.sleep(RETRY_PAUSE)


async def _run(url: str, wait: float | None) -> None:
    from sqlalchemy.exc import DBAPIError

    from cityscale.store.migrate import migrate

    if wait is not None:
        click.echo(f"cityscale: waiting up to {wait:g}s for the database at {where(url)}", err=True)
        await wait_for_database(url, wait)

    def waiting() -> None:
        click.echo("cityscale: another migration is running; waiting for it to finish", err=True)

    try:
        status = await migrate(url, on_wait=waiting)
    except OSError as exc:
        # Unreachable (refused, unknown host): one line naming where, not a driver traceback.
        hint = "" if wait is not None else "; `--wait SECONDS` waits for a database that is still starting"
        raise CliError(f"cannot connect to the database at {where(url)}: {exc}{hint}") from None
    except DBAPIError as exc:
        # The server answered but said no (wrong password, no such database, a failed statement):
        # the server's own reason, without the driver's class name and traceback.
        reason = re.sub(r"^<class '[\w.]+'>: ", "", str(exc.orig)).splitlines()[0]
        raise CliError(f"migrating the database at {where(url)} failed: {reason}") from None
    if status.current == status.head:
        click.echo(f"schema already at {status.head}; nothing to do")
    else:
        click.echo(f"schema migrated from {status.current or 'empty'} to {status.head}")


@click.command("migrate")
@click.option(
    "--wait",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Wait up to SECONDS for the database to accept connections before migrating "
    "(for a migration job started alongside its database); exit 1 if it never does.",
)
def command(wait: float | None) -> None:
    """Bring the database schema up to date.

    Uses DATABASE_URL or DB_HOST/DB_PORT/DB_USER/DB_PASSWORD/DB_NAME. Running it again does nothing;
    running it from several instances at once is safe (they take turns on an advisory lock).
    """
    asyncio.run(_run(database_url(), wait))
