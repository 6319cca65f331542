"""Schema migrations with Alembic, safe when many instances run them at the same moment.

Alembic has no cross-process lock of its own, so (as pypi/warehouse does) the upgrade runs inside a
session-level `pg_advisory_lock`; a second migrator waits for the first, then finds nothing to do.
`lock_timeout` keeps a migration from queueing forever behind a long-running query's table lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

# hashtext('cityscale-migrations') would do too; a fixed 64-bit key is easier to find in pg_locks.
ADVISORY_LOCK_KEY = 0x63697479_7363616C  # "cityscal"
LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "120s"


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("cityscale") / "migrations"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # noqa: S101 - the package always ships at least one migration
    return head


def sqlalchemy_url(url: str) -> str:
    """asyncpg URLs for SQLAlchemy's asyncpg dialect (same driver as the service)."""
    scheme, rest = url.split("://", 1)
    assert scheme in {"postgres", "postgresql"}  # noqa: S101 - Settings validated it
    return f"postgresql+asyncpg://{rest}"


async def migrate(
    url: str, *, wait_timeout: float = 300, on_wait: Callable[[], None] | None = None, connect_timeout: float = 10
) -> SchemaStatus:
    """Upgrade to head; returns the status before the upgrade (its `current` tells what was applied)."""
    engine = create_async_engine(sqlalchemy_url(url), poolclass=NullPool, connect_args={"timeout": connect_timeout})
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
            await conn.execute(text(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'"))
            await _take_lock(conn, wait_timeout, on_wait)
            await conn.commit()
            try:
                before = await conn.run_sync(_current_revision)
                await conn.run_sync(_upgrade)
                await conn.commit()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                await conn.commit()
            return SchemaStatus(current=before, head=head_revision())
    finally:
        await engine.dispose()


async def _take_lock(conn: object, wait_timeout: float, on_wait: Callable[[], None] | None) -> None:
    from sqlalchemy.ext.asyncio import AsyncConnection

    assert isinstance(conn, AsyncConnection)  # noqa: S101
    deadline = time.monotonic() + wait_timeout
    announced = False
    while True:
        result = await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        if result.scalar():
            return
        if not announced and on_wait is not None:
            on_wait()
            announced = True
        if time.monotonic() > deadline:
            raise TimeoutError(f"another migration held the lock for more than {wait_timeout:g} s")
        await asyncio.sleep(0.1)


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def schema_status_of(conn: object) -> SchemaStatus:
    """The schema revision of an asyncpg connection's database, against the code's head."""
    import asyncpg

    assert isinstance(conn, asyncpg.Connection)  # noqa: S101
    try:
        current = await conn.fetchval("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        current = None
    return SchemaStatus(current=current, head=head_revision())
