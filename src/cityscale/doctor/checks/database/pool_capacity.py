"""Pool size x instances against the server's `max_connections` (minus the superuser reserve)."""

from __future__ import annotations

import asyncpg

from cityscale.doctor.checks.database.leaks import DEFAULT_POOL_MAX
from cityscale.doctor.checks.database.target import Target, primary_target, run_with
from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn

HEADROOM = 0.8  # above this share of the slots, a deploy (old + new instances) runs out


@check("database.pool-capacity", Layer.DATABASE, "the pools fit in max_connections")
def pool_capacity(ctx: Context) -> Outcome:
    target = primary_target(ctx)
    if not isinstance(target, Target):
        return skip(target)

    async def limits(conn: asyncpg.Connection) -> tuple[int, int]:
        return int(await conn.fetchval("SHOW max_connections")), int(
            await conn.fetchval("SHOW superuser_reserved_connections")
        )

    try:
        max_connections, reserved = run_with(target, limits)
    except Exception:  # noqa: BLE001 - database.reachable reports the connection error
        return skip("the database is unreachable (see database.reachable)")
    try:
        pool_max = int(ctx.service_env.get("DB_POOL_MAX") or DEFAULT_POOL_MAX)
    except ValueError:
        return skip("DB_POOL_MAX is not a number (see config.settings)")
    instances = ctx.instance_count
    demand, available = pool_max * instances, max_connections - reserved
    evidence = [
        f"DB_POOL_MAX {pool_max} x {instances} instance(s) = {demand}; max_connections {max_connections} - "
        f"{reserved} reserved = {available}"
    ]
    remediation = (
        f"set DB_POOL_MAX={max(1, int(available * HEADROOM) // instances)} "
        "(or put PgBouncer in front, or raise max_connections)"
    )
    if demand > available:
        return fail(
            "the pools can ask for more connections than the server allows: 'too many clients' under load",
            *evidence,
            remediation=remediation,
        )
    if demand > available * HEADROOM:
        return warn(
            f"the pools use over {HEADROOM:.0%} of the connection slots: a rolling deploy runs out",
            *evidence,
            remediation=remediation,
        )
    return ok(f"pools need {demand} of {available} connection slots", *evidence)
