"""Every filter and every page is served from an index on the seeded data (no sequential scan)."""

from __future__ import annotations

import json

import asyncpg
import pytest

from cityscale.store.cities import ListQuery, build_list_sql

QUERIES = {
    "first page": ListQuery(),
    "deep page": ListQuery(after_id=30_000),
    "country code": ListQuery(country="FR"),
    "country name": ListQuery(country="France"),
    "state": ListQuery(state="California"),
    "name prefix": ListQuery(name_prefix="san"),
    "min population": ListQuery(min_population=5_000_000),
    "combined": ListQuery(country="US", state="Texas", min_population=100_000, after_id=1000),
}


def plan_nodes(plan: dict[str, object]) -> list[str]:
    nodes = [str(plan["Node Type"])]
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        nodes += plan_nodes(child)
    return nodes


@pytest.mark.parametrize("name", QUERIES)
async def test_list_queries_use_indexes(database_url: str, name: str) -> None:
    sql, args = build_list_sql(QUERIES[name])
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("ANALYZE cities")
        # The service uses prepared statements, so check the generic plan it would settle on too.
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    finally:
        await conn.close()
    nodes = plan_nodes(json.loads(plan)[0]["Plan"])
    assert "Seq Scan" not in nodes, (name, nodes)
