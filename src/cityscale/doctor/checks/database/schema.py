"""Schema present and migrations at head (incident fault 8: the schema was never loaded, `undefined_table`)."""

from __future__ import annotations

import asyncpg

from cityscale.doctor.checks.database.target import Target, primary_target, run_with
from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn
from cityscale.store.migrate import head_revision

MIGRATE = "cityscale migrate   # with the same DATABASE_URL / DB_* settings as the API"


@check("database.schema", Layer.DATABASE, "the schema is loaded and at the latest migration", rank=20)
def schema(ctx: Context) -> Outcome:
    target = primary_target(ctx)
    if not isinstance(target, Target):
        return skip(target)

    async def inspect(conn: asyncpg.Connection) -> tuple[bool, bool, str | None]:
        has_version = await conn.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
        has_cities = await conn.fetchval("SELECT to_regclass('public.cities') IS NOT NULL")
        current = await conn.fetchval("SELECT version_num FROM alembic_version LIMIT 1") if has_version else None
        return bool(has_version), bool(has_cities), current

    try:
        has_version, has_cities, current = run_with(target, inspect)
    except Exception:  # noqa: BLE001 - database.reachable reports the connection error
        return skip("the database is unreachable (see database.reachable)")
    head = head_revision()
    if not has_cities:
        return fail(
            "the schema was never loaded: every query fails with undefined_table (42P01) "
            "'relation \"cities\" does not exist'",
            f"{target.shown}: no table public.cities" + ("" if has_version else ", no alembic_version table"),
            f"latest migration: {head}",
            remediation=MIGRATE,
        )
    if current == head:
        return ok(f"schema at the latest migration {head}")
    if current is None:
        return fail(
            "the cities table exists but no migration is recorded (loaded by hand?)",
            f"head: {head}",
            remediation=MIGRATE,
        )
    return warn(
        f"schema at {current}, the code expects {head}",
        f"{target.shown}: alembic_version.version_num = {current}",
        remediation=MIGRATE,
    )
