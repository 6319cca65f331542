"""Each replica in DB_REPLICA_URLS reachable, really a standby, streaming, and within MAX_REPLICA_LAG."""

from __future__ import annotations

from dataclasses import dataclass

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
            state = run_with(target, _state)
        except Exception as exc:  # noqa: BLE001 - classified below
            summary, fix = classify(exc, target)
            failures.append(f"{target.shown}: {summary}")
            remediation.append(fix)
            continue
        if not state.in_recovery:
            failures.append(
                f"{target.shown}: not a standby (pg_is_in_recovery() is false): reads would go to a primary"
            )
            remediation.append("list only standbys in DB_REPLICA_URLS")
        elif state.receiver != "streaming":
            failures.append(
                f"{target.shown}: WAL receiver is {state.receiver or 'not running'}: the replica falls behind"
            )
            remediation.append(
                "check primary_conninfo and the primary's pg_hba.conf replication line; see the replica's log"
            )
        elif state.bytes_behind > 0 and (state.lag is None or state.lag > max_lag):
            age = "an unknown time" if state.lag is None else f"{state.lag:.1f} s"
            paused = ", replay is paused (pg_wal_replay_resume() resumes it)" if state.paused else ""
            lagging.append(
                f"{target.shown}: {state.bytes_behind} bytes of WAL received but not replayed{paused}; "
                f"{age} behind (MAX_REPLICA_LAG {max_lag:g} s): reads are routed away from it"
            )
        else:
            fine.append(f"{target.shown}: streaming, {state.lag or 0:.1f} s behind")
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


@dataclass(frozen=True)
class ReplicaState:
    in_recovery: bool
    receiver: str | None  # pg_stat_wal_receiver.status
    bytes_behind: int  # received but not yet replayed
    lag: float | None  # seconds since the last replayed transaction's commit; None when unknown
    paused: bool


async def _state(conn: asyncpg.Connection) -> ReplicaState:
    if not await conn.fetchval("SELECT pg_is_in_recovery()"):
        return ReplicaState(False, None, 0, 0.0, False)
    receiver = await conn.fetchval("SELECT status FROM pg_stat_wal_receiver")
    row = await conn.fetchrow(
        "SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint AS behind, "
        "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS lag, "
        "pg_is_wal_replay_paused() AS paused"
    )
    assert row is not None  # noqa: S101 - a SELECT without FROM returns one row
    behind = int(row["behind"])
    # caught up (everything received is replayed) means no lag, however old the last transaction is
    lag = 0.0 if behind == 0 else row["lag"]
    return ReplicaState(True, receiver, behind, lag, bool(row["paused"]))
