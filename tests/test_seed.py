"""`cityscale seed`: real GeoNames cities, an idempotent upsert keyed by GeoNames id."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg

from cityscale.seed.geonames import geonames_rows


def run_seed(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityscale", "seed", *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


def test_source_rows_are_real_and_stable() -> None:
    rows = geonames_rows()
    assert len(rows) > 30_000
    assert rows[0][1] == "Shanghai"
    assert geonames_rows(limit=10) == rows[:10]
    by_name = {(r[1], r[4]): r for r in rows}
    assert by_name[("San Francisco", "US")][2] == "California"  # US regions get their names
    assert by_name[("Paris", "FR")][3] == "France"  # country names, not just codes
    assert all(r[5] >= 1000 for r in geonames_rows(min_population=1000))


def test_seed_is_idempotent_and_repairs_changed_rows(database_url: str) -> None:
    # The template database is already seeded: a second run inserts nothing.
    again = run_seed(database_url, "--limit", "500")
    assert again.returncode == 0, again.stderr
    assert "0 inserted, 0 updated, 500 unchanged" in again.stderr
    asyncio.run(fetch(database_url, "UPDATE cities SET population = 1 WHERE id IN (1, 2) RETURNING id"))
    repaired = run_seed(database_url, "--limit", "500")
    assert "0 inserted, 2 updated, 498 unchanged" in repaired.stderr
    counts = asyncio.run(fetch(database_url, "SELECT count(*), count(DISTINCT geoname_id) FROM cities"))
    assert counts[0][0] == counts[0][1] == len(geonames_rows())


def test_seed_options_are_validated() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cityscale", "seed", "--limit", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Invalid value for '--limit'" in result.stderr


def test_progress_is_lines_on_stderr_and_stdout_stays_empty(database_url: str) -> None:
    # Captured (not a terminal), as in a log or a CI job: the progress must still be there, line by line.
    result = run_seed(database_url, "--limit", "4500")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    progress = [line for line in result.stderr.splitlines() if line.startswith("cityscale: seeding cities: ")]
    assert progress == [
        "cityscale: seeding cities: 2000/4500 (44 %)",
        "cityscale: seeding cities: 4000/4500 (88 %)",
        "cityscale: seeding cities: 4500/4500 (100 %)",
    ]
    assert result.stderr.splitlines()[-1].startswith("4500 cities from GeoNames (CC BY 4.0): ")
