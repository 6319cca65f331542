"""Session fixtures: one real PostgreSQL primary for the whole run, a fresh database per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cityscale.stack.postgres import PostgresCluster
from tests.support.servers import (
    api_instance,
    clone_database_sync,
    create_template,
    remove,
    running_primary,
    scratch_dir,
)

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


@pytest.fixture(scope="module")
def module_database_url(pg: PostgresCluster) -> str:
    """A database shared by one test module (for modules whose tests do not disturb each other)."""
    return clone_database_sync(pg)


@pytest.fixture(scope="module")
def api(module_database_url: str, scratch: Path) -> Iterator[httpx.Client]:
    """A real `cityscale serve` on the module's database, and an HTTP client for it."""
    env = {"DATABASE_URL": module_database_url, "API_TOKEN": API_TOKEN, "LOG_LEVEL": "warning"}
    with api_instance(env, scratch / "logs") as instance, httpx.Client(base_url=instance.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}
