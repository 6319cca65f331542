"""The cities queries. PostgreSQL renders the JSON, so the service moves bytes instead of objects.

Every read returns the exact response body (`json_agg`/`row_to_json` as text): the API neither decodes
rows into Python objects nor re-serializes them, which is most of a read's CPU cost in Python
(DESIGN.md section 7). Lists use keyset pagination on `id`, so page N costs what page 1 costs.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    limit_param = f"${len(args)}"
    # json_agg is the cheapest way found to turn a page into JSON (bench: half the CPU of a CTE with
    # string_agg(row_to_json)); the extra row is cut off in Python (see `_cut_last`).
    sql = f"""
        SELECT json_agg(c ORDER BY c.id)::text, count(*), (array_agg(c.id ORDER BY c.id))[{limit_param} - 1]
        FROM (SELECT {_SELECT} FROM cities WHERE {" AND ".join(conditions)} ORDER BY id LIMIT {limit_param}) c
    """  # noqa: S608 - the f-string only assembles fixed fragments and $n placeholders
    return sql, args


# json_agg separates elements with exactly this; inside values a newline is always escaped as \n, so the
# sequence cannot occur in data and splitting on it is exact.
_ELEMENT_SEPARATOR = ", \n "


def _cut_last(body: str) -> str:
    return body[: body.rindex(_ELEMENT_SEPARATOR)] + "]"


async def list_page(conn: Connection, query: ListQuery) -> Page:
    sql, args = build_list_sql(query)
    row = await conn.fetchrow(sql, *args)
    assert row is not None  # noqa: S101 - an aggregate always returns one row
    body, count, last_shown_id = row
    if body is None:
        return Page(body=b"[]", next_after_id=None)
    has_more = count > query.limit
    if has_more:
        body = _cut_last(body)
    return Page(body=body.replace(_ELEMENT_SEPARATOR, ",").encode(), next_after_id=last_shown_id if has_more else None)


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
