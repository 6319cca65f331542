"""The cities queries. Every read returns the exact response body, ready to cache and send.

An item is rendered by PostgreSQL (`row_to_json` as text: one row, nothing to decode). A list page is
fetched as rows and rendered with orjson: measured on this machine for a page of 50, that costs
~240 µs of CPU in all (client ~125 + server ~115) against ~310 µs (client ~80 + server ~230) for
`json_agg`, whose rendering runs on the database, the one part that cannot scale out (bench numbers in
docs/performance.md). Lists use keyset pagination on `id`, so page N costs what page 1 costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from cityscale.store.pool import Connection

# The public shape, in the original service's field order, then the fields cityscale adds.
PUBLIC_COLUMNS = (
    "id",
    "state",
    "country",
    "city_name",
    "country_code",
    "population",
    "latitude",
    "longitude",
    "timezone",
)
WRITABLE_COLUMNS = PUBLIC_COLUMNS[1:]
_SELECT = ", ".join(PUBLIC_COLUMNS)


@dataclass(frozen=True)
class ListQuery:
    """A validated list request: filters, page size and the keyset position."""

    limit: int = 50
    after_id: int = 0
    country: str | None = None
    state: str | None = None
    name_prefix: str | None = None
    min_population: int | None = None


@dataclass(frozen=True)
class Page:
    body: bytes
    next_after_id: int | None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def build_list_sql(query: ListQuery) -> tuple[str, list[object]]:
    """SQL and arguments for one page; only values are parameters, never interpolated."""
    conditions = ["id > $1"]
    args: list[object] = [query.after_id]
    if query.country is not None:
        args.append(query.country)
        # Two-letter input is an ISO code ("FR"); anything longer is a country name ("France").
        if len(query.country) == 2:
            conditions.append(f"country_code = upper(${len(args)})")
        else:
            conditions.append(f"lower(country) = lower(${len(args)})")
    if query.state is not None:
        args.append(query.state)
        conditions.append(f"lower(state) = lower(${len(args)})")
    if query.name_prefix is not None:
        args.append(_escape_like(query.name_prefix.lower()) + "%")
        conditions.append(f"lower(city_name) LIKE ${len(args)}")
    if query.min_population is not None:
        args.append(query.min_population)
        conditions.append(f"population >= ${len(args)}")
    args.append(query.limit + 1)  # one extra row tells whether there is a next page
    sql = f"SELECT {_SELECT} FROM cities WHERE {' AND '.join(conditions)} ORDER BY id LIMIT ${len(args)}"  # noqa: S608 - fixed fragments and $n placeholders only
    return sql, args


async def list_page(conn: Connection, query: ListQuery) -> Page:
    sql, args = build_list_sql(query)
    rows = await conn.fetch(sql, *args)
    shown = rows[: query.limit]
    has_more = len(rows) > query.limit
    return Page(
        body=orjson.dumps([dict(row) for row in shown]),
        next_after_id=shown[-1]["id"] if has_more else None,
    )


_ITEM_SQL = f"SELECT row_to_json(c)::text FROM (SELECT {_SELECT} FROM cities WHERE id = $1) c"  # noqa: S608


async def get_item(conn: Connection, city_id: int) -> bytes | None:
    text: str | None = await conn.fetchval(_ITEM_SQL, city_id)
    return text.encode() if text is not None else None


_COLUMN_LIST = ", ".join(WRITABLE_COLUMNS)
_INSERT_SQL = f"""
    WITH c AS (
        INSERT INTO cities ({_COLUMN_LIST})
        VALUES ({", ".join(f"${i}" for i in range(1, len(WRITABLE_COLUMNS) + 1))})
        RETURNING {_SELECT}
    ) SELECT id, row_to_json(c)::text FROM c
"""  # noqa: S608


async def insert(conn: Connection, values: dict[str, object]) -> tuple[int, bytes]:
    """Insert a city (all writable columns, missing ones NULL or default) and return (id, body)."""
    row = await conn.fetchrow(_INSERT_SQL, *(values.get(column) for column in WRITABLE_COLUMNS))
    assert row is not None  # noqa: S101 - INSERT ... RETURNING always returns the row
    return int(row[0]), str(row[1]).encode()


async def update(conn: Connection, city_id: int, values: dict[str, object]) -> bytes | None:
    """Set the given columns of one city; None when it does not exist."""
    if not values:
        return await get_item(conn, city_id)
    unknown = set(values) - set(WRITABLE_COLUMNS)
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    columns = list(values)
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, start=2))
    sql = f"""
        WITH c AS (
            UPDATE cities SET {assignments}, updated_at = now() WHERE id = $1 RETURNING {_SELECT}
        ) SELECT row_to_json(c)::text FROM c
    """  # noqa: S608 - column names come from WRITABLE_COLUMNS, checked above
    text: str | None = await conn.fetchval(sql, city_id, *(values[column] for column in columns))
    return text.encode() if text is not None else None


async def delete(conn: Connection, city_id: int) -> bool:
    status: str = await conn.execute("DELETE FROM cities WHERE id = $1", city_id)
    return status == "DELETE 1"
