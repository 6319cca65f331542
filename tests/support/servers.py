"""Real PostgreSQL clusters and API instances for tests, on free ports in a private temp dir."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.ports import free_port
from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.redis import RedisServer

TEMPLATE_DB = "cities_template"
_database_numbers = itertools.count(1)


def scratch_dir(prefix: str) -> Path:
    """A temp dir that the `postgres` user can enter (pytest's own tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix=f"cityscale-{prefix}-"))
    path.chmod(0o755)
    return path


@contextmanager
def running_primary(base: Path) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(base / "primary")
    cluster.create_primary(durable=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


async def create_template(cluster: PostgresCluster, *, seed_limit: int | None = None) -> None:
    """A migrated and seeded database that every test database is copied from (fast: a file copy)."""
    from cityscale.cli.seed import seed_database
    from cityscale.stack.embedded import create_database
    from cityscale.store.migrate import migrate

    await create_database(cluster, TEMPLATE_DB)
    url = cluster.url(TEMPLATE_DB)
    await migrate(url)
    await seed_database(url, min_population=0, limit=seed_limit, show_progress=False)


async def clone_database(cluster: PostgresCluster, template: str = TEMPLATE_DB) -> str:
    """A fresh database copied from `template`; returns its URL."""
    name = f"test_{next(_database_numbers)}"
    conn = await asyncpg.connect(cluster.url("postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return cluster.url(name)


def clone_database_sync(cluster: PostgresCluster, template: str = TEMPLATE_DB) -> str:
    return asyncio.run(clone_database(cluster, template))


@contextmanager
def api_instance(
    env: dict[str, str], log_dir: Path, *, extra_args: tuple[str, ...] = (), ready: bool = True
) -> Iterator[ApiInstance]:
    port = free_port()
    instance = ApiInstance(
        f"api-{port}", port=port, env=env, log_path=log_dir / f"api-{port}.log", extra_args=extra_args
    )
    instance.start()
    try:
        if ready:
            instance.wait_ready()
        yield instance
    finally:
        instance.stop()


@contextmanager
def running_redis(prefix: str) -> Iterator[RedisServer]:
    """A real Redis (cache settings) on a free port, in a scratch dir removed afterwards."""
    base = scratch_dir(prefix)
    server = RedisServer(base)
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        remove(base)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
