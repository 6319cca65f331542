"""Connecting to the configured database the way the doctor needs (not a check itself).

The doctor uses its own short, fixed timeouts (the configured ones may be the fault being diagnosed)
and names itself `cityscale-doctor`, so it never counts as one of the app's connections. A host that is
a compose service name is reached through the port that service publishes, when run outside a container.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from cityscale.doctor.context import Context

CONNECT_TIMEOUT_SECONDS = 3.0
QUERY_TIMEOUT_SECONDS = 5.0
DOCTOR_APPLICATION_NAME = "cityscale-doctor"

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    url: str
    shown: str  # host:port/db, no credentials
    note: str | None  # how the URL was translated, if it was


def primary_target(ctx: Context) -> Target | str:
    """The primary as the doctor can reach it, or a sentence saying why it cannot be tried."""
    env = ctx.service_env
    if env.get("DATABASE_URL") is None and env.get("DB_HOST") is None:
        return "no database configured (neither DATABASE_URL nor DB_HOST): the API runs its embedded PostgreSQL"
    return _target(ctx, env.primary_url())


def replica_targets(ctx: Context) -> list[Target | str]:
    return [_target(ctx, url) for url in ctx.service_env.replica_urls()]


def _target(ctx: Context, url: str) -> Target | str:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 5432
    reached = ctx.reachable_address(host, port)
    if isinstance(reached, str):
        return reached
    new_host, new_port, note = reached
    if note is None:
        return Target(url, f"{host}:{port}{parts.path}", None)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{new_host}:{new_port}" if userinfo else f"{new_host}:{new_port}"
    return Target(urlunsplit(parts._replace(netloc=netloc)), f"{new_host}:{new_port}{parts.path}", note)


async def connect(target: Target) -> asyncpg.Connection:
    return await asyncpg.connect(
        target.url, timeout=CONNECT_TIMEOUT_SECONDS, server_settings={"application_name": DOCTOR_APPLICATION_NAME}
    )


def run_with(target: Target, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Connect, run `work`, close; the whole thing bounded in time. Raises what connecting raised."""

    async def session() -> T:
        conn = await connect(target)
        try:
            return await asyncio.wait_for(work(conn), QUERY_TIMEOUT_SECONDS)
        finally:
            await conn.close(timeout=2)

    return asyncio.run(asyncio.wait_for(session(), CONNECT_TIMEOUT_SECONDS + QUERY_TIMEOUT_SECONDS + 3))


def classify(exc: BaseException, target: Target) -> tuple[str, str]:  # noqa: PLR0911 - one return per class
    """(what went wrong, the exact remediation) for a failed connection."""
    host = target.shown.split("/", 1)[0]
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and exc.errno == 111):
        return (
            f"connection refused by {host}: nothing listens there",
            f"pg_isready -h {host.rsplit(':', 1)[0]} -p {host.rsplit(':', 1)[-1]}   # start PostgreSQL, or "
            f"correct DB_HOST/DB_PORT",
        )
    if isinstance(exc, socket.gaierror):
        return (
            f"the host name in {host} does not resolve (DNS): {exc.strerror}",
            f"getent hosts {host.rsplit(':', 1)[0]}   # correct DB_HOST",
        )
    if isinstance(exc, (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        return (f"authentication failed at {host}: {exc}", "check DB_USER/DB_PASSWORD (and pg_hba.conf on the server)")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        name = target.shown.split("/", 1)[-1] if "/" in target.shown else "<name>"
        createdb = f"createdb -h {host.rsplit(':', 1)[0]} -p {host.rsplit(':', 1)[-1]} {name}"
        return (f"{exc}", f"{createdb}   # then: cityscale migrate; or correct DB_NAME")
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return (
            f"the server has no connection slots left: {exc}",
            "see database.connection-leak; raise max_connections only after fixing leaks",
        )
    if isinstance(exc, TimeoutError):
        return (
            f"no answer from {host} within {CONNECT_TIMEOUT_SECONDS:g} s (timeout: a firewall, a paused server, "
            f"or the wrong host)",
            f"pg_isready -h {host.rsplit(':', 1)[0]} -p {host.rsplit(':', 1)[-1]} -t 5",
        )
    return (f"{type(exc).__name__}: {exc}", "psql \"$DATABASE_URL\" -c 'select 1'   # reproduce by hand")
