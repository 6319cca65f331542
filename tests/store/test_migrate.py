"""`cityscale migrate`: idempotent, recorded, and safe when several processes run it at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx

from cityscale.stack.embedded import create_database
from cityscale.stack.ports import free_port
from cityscale.stack.postgres import PostgresCluster
from cityscale.store.migrate import head_revision, migrate
from tests.support.servers import api_instance

_empty_numbers = iter(range(1, 1000))


def empty_database(pg: PostgresCluster) -> str:
    name = f"empty_{next(_empty_numbers)}_{os.getpid()}"
    asyncio.run(create_database(pg, name))
    return pg.url(name)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityscale", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def table_state(url: str) -> tuple[str | None, bool]:
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
        has_cities = await conn.fetchval("SELECT to_regclass('public.cities') IS NOT NULL")
        return version, has_cities
    finally:
        await conn.close()


def test_migrate_is_idempotent_and_recorded(pg: PostgresCluster) -> None:
    url = empty_database(pg)
    first = run_cli("migrate", env={"DATABASE_URL": url})
    assert first.returncode == 0, first.stderr
    assert f"schema migrated from empty to {head_revision()}" in first.stdout
    second = run_cli("migrate", env={"DATABASE_URL": url})
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout
    assert asyncio.run(table_state(url)) == (head_revision(), True)


def test_concurrent_migrations_take_turns(pg: PostgresCluster) -> None:
    url = empty_database(pg)
    env = {**os.environ, "DATABASE_URL": url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "cityscale", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [(p.wait(120), *p.communicate()) for p in processes]
    assert [code for code, _, _ in results] == [0] * 6, results
    outputs = [out for _, out, _ in results]
    assert sum("schema migrated from empty" in out for out in outputs) == 1
    assert sum("nothing to do" in out for out in outputs) == 5
    assert asyncio.run(table_state(url)) == (head_revision(), True)


def test_migrate_api_reports_what_it_found(pg: PostgresCluster) -> None:
    url = empty_database(pg)
    before = asyncio.run(migrate(url))
    assert (before.current, before.head) == (None, head_revision())
    assert asyncio.run(migrate(url)).at_head


def test_serve_refuses_an_unmigrated_database_in_one_line(pg: PostgresCluster) -> None:
    url = empty_database(pg)
    result = run_cli("serve", "--port", str(free_port()), env={"DATABASE_URL": url})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "cityscale: the database has no cities schema: run `cityscale migrate` first (or `serve --migrate`)"
    ]


def test_migrate_without_a_database_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_") and k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "cityscale", "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "no database configured: set DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_migrate_migrates_an_empty_database_then_serves(pg: PostgresCluster, scratch: Path) -> None:
    url = empty_database(pg)
    env = {"DATABASE_URL": url, "LOG_LEVEL": "warning", "API_TOKEN": "serve-migrate-test-token"}
    with api_instance(env, scratch / "logs", extra_args=("--migrate",)) as api:
        assert asyncio.run(table_state(url)) == (head_revision(), True)
        assert httpx.get(f"{api.url}/api/cities", timeout=10).json() == []  # migrated, not seeded
        created = httpx.post(
            f"{api.url}/api/cities",
            json={"city_name": "Migrateville", "country": "Testland"},
            headers={"Authorization": "Bearer serve-migrate-test-token"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
    # Already at head: a second `serve --migrate` changes nothing and serves what is there.
    with api_instance(env, scratch / "logs", extra_args=("--migrate",)) as api:
        names = [c["city_name"] for c in httpx.get(f"{api.url}/api/cities", timeout=10).json()]
    assert names == ["Migrateville"]
    assert asyncio.run(table_state(url)) == (head_revision(), True)
