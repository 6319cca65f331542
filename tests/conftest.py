"""Session fixtures: one real PostgreSQL primary for the whole run, a fresh database per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityscale.stack.postgres import PostgresCluster
from tests.support.servers import clone_database_sync, create_template, remove, running_primary, scratch_dir

API_TOKEN = "test-token-3f9a1c"  # a test-only value; no deployment uses it


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    path = scratch_dir("tests")
    yield path
    remove(path)


@pytest.fixture(scope="session")
def pg(scratch: Path) -> Iterator[PostgresCluster]:
    """A real PostgreSQL primary on a free port, with a migrated and seeded template database."""
    with running_primary(scratch / "pg") as cluster:
        asyncio.run(create_template(cluster))
        yield cluster


@pytest.fixture
def database_url(pg: PostgresCluster) -> str:
    """A database of its own for this test, copied from the seeded template."""
    return clone_database_sync(pg)


@pytest.fixture
def api_env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "API_TOKEN": API_TOKEN, "LOG_LEVEL": "warning"}
