"""The embedded default database: a private PostgreSQL cluster in a local data directory.

`cityscale serve` with no database configured calls `start_embedded()`: the first run creates the
cluster, the `cities` database, migrates and seeds it; later runs reuse it as it was left.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg

from cityscale.stack.ports import port_is_free
from cityscale.stack.postgres import PostgresCluster

DATABASE_NAME = "cities"


def default_data_dir() -> Path:
    """`$CITYSCALE_DATA_DIR`, else `.cityscale` in the current directory (the project, in a clone)."""
    return Path(os.environ.get("CITYSCALE_DATA_DIR") or ".cityscale").resolve()


def _say(message: str) -> None:
    print(f"cityscale: {message}", file=sys.stderr, flush=True)


async def create_database(cluster: PostgresCluster, name: str = DATABASE_NAME) -> bool:
    """Create database `name` if missing; True when it was created."""
    conn = await asyncpg.connect(cluster.url("postgres"), timeout=10)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


async def cities_table_is_empty(url: str) -> bool:
    """True when the cities table has no row (a first run interrupted before or while seeding)."""
    # A first run interrupted while seeding left an empty table: seed again rather than serve nothing.
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM cities)")
    finally:
        await conn.close()


def start_embedded(data_dir: Path) -> tuple[PostgresCluster, str]:
    """Create (first run) or reuse the private cluster, start it, and return it with the app's URL."""
    from cityscale.cli.seed import seed_database
    from cityscale.store.migrate import migrate

    cluster = PostgresCluster(data_dir / "postgres")
    first_run = not cluster.exists
    if first_run:
        _say(f"creating a private PostgreSQL cluster in {cluster.base} (first run only)")
        cluster.create_primary()
    elif not cluster.is_running() and not port_is_free(cluster.port):
        from cityscale.stack.ports import free_port

        new_port = free_port()
        _say(f"port {cluster.port} of the embedded database is taken; moving it to {new_port}")
        cluster.set_port(new_port)
    cluster.start()
    url = cluster.url(DATABASE_NAME)
    try:
        created = asyncio.run(create_database(cluster))
        asyncio.run(migrate(url))
        if created or asyncio.run(cities_table_is_empty(url)):
            _say("loading the GeoNames cities (first run only)")
            asyncio.run(seed_database(url, min_population=0, limit=None))
    except BaseException:
        cluster.stop()
        raise
    _say(f"embedded PostgreSQL on 127.0.0.1:{cluster.port} (log: {cluster.log_file})")
    return cluster, url
