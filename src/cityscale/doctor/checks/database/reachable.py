"""PostgreSQL primary reachable with the configured URL; the actual error class when it is not."""

from __future__ import annotations

import asyncpg

from cityscale.doctor.checks.database.target import Target, classify, primary_target, run_with
from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip


@check("database.reachable", Layer.DATABASE, "the PostgreSQL primary answers", rank=10)
def reachable(ctx: Context) -> Outcome:
    target = primary_target(ctx)
    if not isinstance(target, Target):
        return skip(target)
    notes = [target.note] if target.note else []

    async def probe(conn: asyncpg.Connection) -> tuple[str, bool]:
        version = await conn.fetchval("SHOW server_version")
        return str(version), bool(await conn.fetchval("SELECT pg_is_in_recovery()"))

    try:
        version, in_recovery = run_with(target, probe)
    except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
        summary, remediation = classify(exc, target)
        return fail(
            f"cannot connect to the primary: {summary}", f"URL: {target.shown}", *notes, remediation=remediation
        )
    if in_recovery:
        return fail(
            f"{target.shown} is a read-only standby, not the primary: writes fail",
            *notes,
            remediation="point DATABASE_URL/DB_HOST at the primary; standbys belong in DB_REPLICA_URLS",
        )
    return ok(f"PostgreSQL {version} answers at {target.shown}", *notes)
