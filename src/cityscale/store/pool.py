"""A bounded asyncpg pool whose connections can only be borrowed inside an `async with`.

This is where the original service's leak cannot happen: `connection()` is the only way to get a
connection, and its `finally` returns it on every path (success, exception, client disconnect and
task cancellation; asyncpg shields the release from a second cancellation). Acquiring waits at most
`DB_ACQUIRE_TIMEOUT`; connecting at most `DB_CONNECT_TIMEOUT`; a statement at most
`DB_STATEMENT_TIMEOUT` (server side), plus a client-side bound for a server that stopped answering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from cityscale.observability.metrics import PoolInstruments, sqlstate_class
from cityscale.store.errors import (
    DatabaseUnavailableError,
    PoolExhaustedError,
    QueryTimeoutError,
    SchemaNotReadyError,
)

Role = Literal["primary", "replica"]

# What handlers and queries receive: a pooled connection (a proxy that cannot outlive its block).
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

APPLICATION_NAME = "cityscale"

# Failures that mean "the server is gone or not answering", as opposed to a bad query.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # A pooled connection whose server shut down under it can be left mid-protocol ("cannot switch to
    # state 12; another operation is in progress"): it is as gone as a reset connection.
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


class LeanResetConnection(asyncpg.Connection):
    """A pooled connection whose release costs no round trip.

    asyncpg's default release runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`:
    one more round trip and statement for every query, which py-spy showed as ~6 % of an instance's CPU
    on the read path and which halves the cost of a single-statement read. The service never leaves
    session state on a pooled connection (no SET, LISTEN, advisory locks or cursors outside a
    transaction: the migrator uses a connection of its own), and an open transaction is still rolled
    back by asyncpg on release whatever this returns (the documented hook: `Connection.reset`).
    """

    def get_reset_query(self) -> str:
        return ""


@dataclass(frozen=True)
class PoolLimits:
    min_size: int
    max_size: int
    connect_timeout: float
    acquire_timeout: float
    statement_timeout: float


class Pool:
    """One database server's pool (the primary, or one replica)."""

    def __init__(self, url: str, limits: PoolLimits, *, role: Role, name: str) -> None:
        self.url = url
        self.limits = limits
        self.role = role
        self.name = name
        self._pool: asyncpg.Pool | None = None
        self.in_use = 0
        self.waiting = 0
        self.metrics = PoolInstruments(name, role)

    async def open(self) -> None:
        """Create the pool without connecting: a database that is down at start-up is retried per request."""
        limits = self.limits
        self._pool = asyncpg.create_pool(
            self.url,
            min_size=0,
            max_size=limits.max_size,
            timeout=limits.connect_timeout,
            # The server cancels a long statement itself; the client bound is for a server that hangs.
            command_timeout=limits.statement_timeout + limits.connect_timeout,
            max_inactive_connection_lifetime=60.0,
            connection_class=LeanResetConnection,
            server_settings={
                "application_name": APPLICATION_NAME,
                "statement_timeout": str(int(limits.statement_timeout * 1000)),
                # A transaction left open by a bug is rolled back by the server, freeing its locks.
                "idle_in_transaction_session_timeout": str(int((limits.statement_timeout + 5) * 1000)),
            },
        )
        await self._pool  # with min_size=0 this opens no connection

    async def close(self, timeout: float = 10) -> None:
        """Close gracefully: wait for borrowed connections to come back, then terminate what is left."""
        if self._pool is None:
            return
        try:
            await asyncio.wait_for(self._pool.close(), timeout)
        except TimeoutError:
            self._pool.terminate()
        except CONNECTION_ERRORS:
            self._pool.terminate()
        self._pool = None

    @property
    def size(self) -> int:
        return self._pool.get_size() if self._pool else 0

    @property
    def idle(self) -> int:
        return self._pool.get_idle_size() if self._pool else 0

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """Borrow a connection for the duration of the block; it always goes back."""
        if self._pool is None:
            raise DatabaseUnavailableError(f"{self.name} pool is closed")
        self.waiting += 1
        started = time.perf_counter()
        try:
            # asyncio.timeout rather than acquire(timeout=): asyncpg implements that with wait_for, a task
            # per acquire (~7 % of an uncached read's CPU in py-spy). Cancelling the acquire is safe: asyncpg
            # puts the connection holder back in its queue.
            async with asyncio.timeout(self.limits.acquire_timeout):
                conn = await self._pool.acquire()
        except TimeoutError:
            self.metrics.acquire_timed_out()
            raise self._acquire_timeout_error() from None
        except CONNECTION_ERRORS as exc:
            self.metrics.query_failed("connect")
            raise DatabaseUnavailableError(f"{self.name} database unreachable: {_describe(exc)}") from None
        except asyncpg.PostgresError as exc:
            # Acquiring runs no query of ours: a server error here refused the connection itself
            # (authentication, a database that is missing or closed to connections, too many clients).
            self.metrics.query_failed("connect")
            raise DatabaseUnavailableError(f"{self.name} database refused the connection: {_describe(exc)}") from None
        finally:
            self.waiting -= 1
        self.metrics.acquired(time.perf_counter() - started)
        self.in_use += 1
        try:
            yield conn
        except asyncpg.UndefinedTableError as exc:
            self.metrics.query_failed("schema")
            raise SchemaNotReadyError(
                f"the {self.name} database has no cities schema ({exc}); run `cityscale migrate`"
            ) from None
        except asyncpg.QueryCanceledError:
            self.metrics.query_failed("statement_timeout")
            raise QueryTimeoutError(
                f"{self.name} query cancelled after the {self.limits.statement_timeout:g} s statement timeout"
            ) from None
        except CONNECTION_ERRORS as exc:
            self.metrics.query_failed("connection_lost")
            raise DatabaseUnavailableError(f"{self.name} database connection lost: {_describe(exc)}") from None
        except asyncpg.PostgresError as exc:  # e.g. a constraint violation: the caller handles it; we count it
            self.metrics.query_failed(sqlstate_class(exc.sqlstate))
            raise
        finally:
            self.in_use -= 1
            await self._release(conn)

    async def _release(self, conn: Connection) -> None:
        assert self._pool is not None  # noqa: S101
        try:
            # Bounded: resetting a connection to a server that stopped answering would otherwise wait
            # forever. On timeout asyncpg terminates the connection, and the pool replaces it later.
            await self._pool.release(conn, timeout=self.limits.connect_timeout)
        except TimeoutError:
            pass
        except CONNECTION_ERRORS:
            pass

    def _acquire_timeout_error(self) -> DatabaseUnavailableError:
        timeout = self.limits.acquire_timeout
        if self.in_use >= self.limits.max_size:
            return PoolExhaustedError(
                f"{self.name} pool exhausted: all {self.limits.max_size} connections stayed busy for {timeout:g} s"
            )
        return DatabaseUnavailableError(f"{self.name} database did not accept a connection within {timeout:g} s")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
