"""Connection-leak signals in `pg_stat_activity` (incident fault 5: a pooled connection never released).

A leaked connection stays open and unused: `idle in transaction` when the code began a transaction and
never finished it (holding its locks), plain `idle` for ever when it only ran autocommit queries. The
app's connections are those with `application_name = 'cityscale'` (`cityscale.store.pool`).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from cityscale.doctor.checks.database.target import Target, primary_target, run_with
from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn
from cityscale.store.pool import APPLICATION_NAME

# A read-heavy API's transactions last milliseconds; one left open for seconds is a leak.
IDLE_IN_TRANSACTION_SECONDS = 2.0
OLD_IDLE_SECONDS = 600.0  # idle longer than the pool's recycling: nobody is using the connection
DEFAULT_POOL_MAX = 10

INSPECT = (
    'psql "$DATABASE_URL" -c "SELECT pid, state, now() - state_change AS for, now() - xact_start AS xact, '  # noqa: S608 - a command for a person, from a constant
    f"left(query, 60) FROM pg_stat_activity WHERE application_name = '{APPLICATION_NAME}' ORDER BY state_change\""
)


@dataclass(frozen=True)
class Session:
    pid: int
    state: str | None  # None: this role may not see other roles' state (needs pg_monitor)
    idle_seconds: float | None
    query: str


@check("database.connection-leak", Layer.DATABASE, "no leaked connections (pg_stat_activity)")
def connection_leak(ctx: Context) -> Outcome:
    target = primary_target(ctx)
    if not isinstance(target, Target):
        return skip(target)

    async def sessions(conn: asyncpg.Connection) -> list[Session]:
        rows = await conn.fetch(
            "SELECT pid, state, extract(epoch FROM now() - state_change)::float8 AS idle, coalesce(query, '') AS query "
            "FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() AND pid <> "
            "pg_backend_pid()",
            APPLICATION_NAME,
        )
        return [Session(r["pid"], r["state"], r["idle"], r["query"]) for r in rows]

    try:
        found = run_with(target, sessions)
    except Exception:  # noqa: BLE001 - database.reachable reports the connection error
        return skip("the database is unreachable (see database.reachable)")
    try:
        pool_max = int(ctx.service_env.get("DB_POOL_MAX") or DEFAULT_POOL_MAX)
    except ValueError:
        pool_max = DEFAULT_POOL_MAX
    limit = pool_max * ctx.instance_count
    stuck = [
        s for s in found if s.state == "idle in transaction" and (s.idle_seconds or 0) >= IDLE_IN_TRANSACTION_SECONDS
    ]
    stale = [s for s in found if s.state == "idle" and (s.idle_seconds or 0) >= OLD_IDLE_SECONDS]
    hidden = [s for s in found if s.state is None]
    evidence = [
        f"{len(found)} connection(s) with application_name '{APPLICATION_NAME}' on {target.shown}; "
        f"allowed: DB_POOL_MAX {pool_max} x {ctx.instance_count} instance(s) = {limit}"
    ]
    evidence += [
        f"pid {s.pid}: idle in transaction for {s.idle_seconds:.1f} s, last query: {s.query[:60]}" for s in stuck[:5]
    ]
    evidence += [f"pid {s.pid}: idle for {s.idle_seconds:.0f} s" for s in stale[:5]]
    if hidden:
        evidence.append(
            f"{len(hidden)} session(s) show no state: this role needs pg_monitor to see them (GRANT pg_monitor "
            f"TO <role>)"
        )
    terminate = (
        'psql "$DATABASE_URL" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '  # noqa: S608 - a command for a person, from a constant
        f"'{APPLICATION_NAME}' AND state = 'idle in transaction' AND now() - state_change > interval '1 minute'\""
    )
    remediation = (
        f"{INSPECT}\nthe code must release every acquired connection (async with pool.acquire(), or release in "
        f"finally); "
        f"stop-gap: {terminate}; guard: ALTER DATABASE ... SET idle_in_transaction_session_timeout = '5min'"
    )
    if len(found) > limit or stuck:
        what = (
            "more connections than the pools allow"
            if len(found) > limit
            else f"{len(stuck)} session(s) idle in transaction"
        )
        return fail(f"connection leak: {what}", *evidence, remediation=remediation)
    if stale:
        return warn(
            f"{len(stale)} connection(s) idle for over {OLD_IDLE_SECONDS:g} s", *evidence, remediation=remediation
        )
    return ok(f"{len(found)} app connection(s), none stuck (limit {limit})", *evidence[1:])
