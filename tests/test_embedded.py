"""The README's run command with no database configured: a private cluster, created once, reused."""

from __future__ import annotations

import asyncio

import asyncpg

from cityscale.stack.embedded import start_embedded
from tests.support.servers import remove, scratch_dir


async def count_cities(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM cities"))
    finally:
        await conn.close()


def test_first_run_creates_migrates_and_seeds_then_later_runs_reuse() -> None:
    data_dir = scratch_dir("embedded")
    try:
        cluster, url = start_embedded(data_dir)
        try:
            seeded = asyncio.run(count_cities(url))
            assert seeded > 30_000
        finally:
            cluster.stop()
        assert not cluster.is_running()
        again, url_again = start_embedded(data_dir)
        try:
            assert url_again == url
            assert asyncio.run(count_cities(url_again)) == seeded
        finally:
            again.stop()
    finally:
        remove(data_dir)
