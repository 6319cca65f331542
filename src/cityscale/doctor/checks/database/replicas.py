"""Each replica in DB_REPLICA_URLS reachable, really a standby, streaming, and within MAX_REPLICA_LAG."""

from __future__ import annotations

import asyncpg

from cityscale.doctor.checks.database.target import Target, classify, replica_targets, run_with
from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn

DEFAULT_MAX_LAG = 5.0


@check("database.replicas", Layer.DATABASE, "replicas stream and are fresh")
def replicas(ctx: Context) -> Outcome:
    targets = replica_targets(ctx)
    if not targets:
        return skip("no replicas configured (DB_REPLICA_URLS is empty)")
    try:
        max_lag = float(ctx.service_env.get("MAX_REPLICA_LAG") or DEFAULT_MAX_LAG)
    except ValueError:
        max_lag = DEFAULT_MAX_LAG
    failures, lagging, fine = [], [], []
    remediation = []
    for target in targets:
        if not isinstance(target, Target):
            failures.append(target)
            continue
        try:
            in_recovery, receiver, lag = run_with(target, _state)
        except Exception as exc:  # noqa: BLE001 - classified below
            summary, fix = classify(exc, target)
            failures.append(f"{target.shown}: {summary}")
            remediation.append(fix)
            continue
        if not in_recovery:
            failures.append(
                f"{target.shown}: not a standby (pg_is_in_recovery() is false): reads would go to a primary"
            )
            remediation.append("list only standbys in DB_REPLICA_URLS")
        elif receiver != "streaming":
            failures.append(f"{target.shown}: WAL receiver is {receiver or 'not running'}: the replica falls behind")
            remediation.append(
                "check primary_conninfo and the primary's pg_hba.conf replication line; see the replica's log"
            )
        elif lag > max_lag:
            lagging.append(
                f"{target.shown}: {lag:.1f} s behind (MAX_REPLICA_LAG {max_lag:g} s): reads are routed away from it"
            )
        else:
            fine.append(f"{target.shown}: streaming, {lag:.1f} s behind")
    if failures:
        return fail(
            f"{len(failures)} replica(s) not serving",
            *failures,
            *lagging,
            *fine,
            remediation="\n".join(dict.fromkeys(remediation)) or "see evidence",
        )
    if lagging:
        return warn(
            f"{len(lagging)} replica(s) lagging",
            *lagging,
            *fine,
            remediation="SELECT * FROM pg_stat_replication;   # on the primary: replay_lag",
        )
    return ok(f"{len(fine)} replica(s) streaming within {max_lag:g} s", *fine)


async def _state(conn: asyncpg.Connection) -> tuple[bool, str | None, float]:
    in_recovery = bool(await conn.fetchval("SELECT pg_is_in_recovery()"))
    if not in_recovery:
        return False, None, 0.0
    receiver = await conn.fetchval("SELECT status FROM pg_stat_wal_receiver")
    # caught up (received == replayed) means no lag, however old the last transaction is
    lag = await conn.fetchval(
        "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
        "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8"
    )
    return True, receiver, float(lag)
