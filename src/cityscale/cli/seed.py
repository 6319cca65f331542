"""`cityscale seed`: load real world cities from GeoNames (CC BY 4.0), an idempotent upsert."""

from __future__ import annotations

import asyncio
import sys

import click

from cityscale.cli.options import database_url


class _ProgressLines:
    """One line on stderr per batch: readable in a log or a pipe, where a redrawn bar shows nothing.

    stdout is left empty, so a script can capture it without the progress mixed in.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    def __call__(self, rows: int) -> None:
        self.done += rows
        percent = 100 * self.done // self.total if self.total else 100
        print(f"cityscale: seeding cities: {self.done}/{self.total} ({percent} %)", file=sys.stderr, flush=True)


async def seed_database(url: str, *, min_population: int, limit: int | None, show_progress: bool = True) -> None:
    import asyncpg

    from cityscale.seed.geonames import geonames_rows, upsert
    from cityscale.store.migrate import schema_status_of

    rows = geonames_rows(min_population=min_population, limit=limit)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        status = await schema_status_of(conn)
        if status.current is None:
            raise click.ClickException("the database has no cities schema yet: run `cityscale migrate` first")
        progress = _ProgressLines(len(rows)) if show_progress else None
        result = await upsert(conn, rows, progress=progress)
    finally:
        await conn.close()
    click.echo(
        f"{result.considered} cities from GeoNames (CC BY 4.0): {result.inserted} inserted, "
        f"{result.updated} updated, {result.considered - result.inserted - result.updated} unchanged",
        err=True,
    )


@click.command("seed")
@click.option(
    "--min-population",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Only cities with at least this many inhabitants (the data starts at 15,000).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many cities, the largest first.")
def command(min_population: int, limit: int | None) -> None:
    """Load about 34,000 real cities (GeoNames, population over 15,000) into the database.

    Idempotent: running it again updates changed rows and inserts none twice (keyed by GeoNames id).
    """
    asyncio.run(seed_database(database_url(), min_population=min_population, limit=limit))
