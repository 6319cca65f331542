"""The scenarios, each with the fault it injects and what the failure table promises while it lasts.

Expectations come from DESIGN.md section 1 (failure table) and docs/read-path.md (degradation table,
staleness bounds). Every scenario also gets the checks every run gets: after it, every acknowledged
write is on the primary and on each replica once caught up, and every layer converges on it within
the staleness bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from cityscale.chaos.faults import (
    Fault,
    HoldRowLocks,
    KillProcess,
    PauseProcess,
    PauseReplay,
    ReloadNginx,
    StopCluster,
)


class WriteRule(Enum):
    """Which write failures the table allows while the fault lasts."""

    NONE = "no write fails"
    IN_FLIGHT = "only writes in flight on the killed instance may fail"
    FAST_503 = "503 with Retry-After in under a second, only while the primary is down"
    POOL_503 = "wait at most DB_ACQUIRE_TIMEOUT (+ the lock) then 503 with Retry-After; never a hang"


# After an invalidation is lost, an instance's L1 serves for CACHE_L1_TTL (1 s) and nginx's microcache for
# max-age (1 s): docs/read-path.md "Staleness bounds", normal operation.
STALENESS_BOUND = 2.0
# Redis unreachable during a write: until the writer's next contact bumps the generation (checked every
# second), then the normal bound.
STALENESS_BOUND_REDIS_DOWN = 3.0
IN_FLIGHT_ALLOWANCE = 32  # the most writes one instance can have in flight at this load (bounded by keys)
FAST_503_SECONDS = 1.0
ACQUIRE_TIMEOUT = 1.0  # Settings.DB_ACQUIRE_TIMEOUT default, as `up` runs the instances
STATEMENT_TIMEOUT = 5.0  # Settings.DB_STATEMENT_TIMEOUT default


@dataclass(frozen=True)
class FaultContext:
    keys: tuple[int, ...]
    max_replica_lag: float


@dataclass(frozen=True)
class Scenario:
    name: str
    action: str
    expectation: str
    make_fault: Callable[[FaultContext], Fault]
    write_rule: WriteRule = WriteRule.NONE
    staleness_bound: float = STALENESS_BOUND
    holds: bool = True  # the fault lasts the "during" phase; False: a one-off event (kill, reload)

    def write_latency_limit(self) -> float | None:
        if self.write_rule is WriteRule.FAST_503:
            return FAST_503_SECONDS
        if self.write_rule is WriteRule.POOL_503:
            return ACQUIRE_TIMEOUT + STATEMENT_TIMEOUT + 1.0
        return None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "api-kill",
        "SIGKILL api-1 (its process group); `up` restarts it",
        "reads: nginx routes around it, zero errors; writes: only those in flight on it may fail",
        lambda _: KillProcess("api-1"),
        WriteRule.IN_FLIGHT,
        holds=False,
    ),
    Scenario(
        "redis-kill",
        "SIGKILL Redis; `up` restarts it empty",
        "reads from the DB, zero errors; writes unaffected; nothing lost (the cache is disposable)",
        lambda _: KillProcess("redis"),
        staleness_bound=STALENESS_BOUND_REDIS_DOWN,
        holds=False,
    ),
    Scenario(
        "redis-blackhole",
        "SIGSTOP Redis, then SIGCONT",
        "reads from the DB (cache calls time out in <= 100 ms, then the breaker skips Redis), zero errors; "
        "writes unaffected",
        lambda _: PauseProcess("redis"),
        staleness_bound=STALENESS_BOUND_REDIS_DOWN,
    ),
    Scenario(
        "replica-stop",
        "pg_ctl stop -m fast replica-1, then start it",
        "reads routed to other replicas, else the primary: zero errors; writes unaffected",
        lambda _: StopCluster("replica-1"),
    ),
    Scenario(
        "replica-lag",
        "pg_wal_replay_pause() on replica-1 until it lags past MAX_REPLICA_LAG, then resume",
        "reads routed away from the lagging replica: zero errors; writes unaffected",
        lambda ctx: PauseReplay("replica-1", ctx.max_replica_lag),
    ),
    Scenario(
        "primary-restart",
        "pg_ctl stop -m fast the primary, then start it",
        "reads from replicas and cache: zero errors; writes: 503 with Retry-After in under 1 s, only while "
        "the primary is down; every acknowledged write readable after",
        lambda _: StopCluster("primary"),
        WriteRule.FAST_503,
    ),
    Scenario(
        "pool-exhaust",
        "hold FOR UPDATE locks on every written key, so writes fill the primary's pools with waiting queries",
        "writes wait at most the acquire timeout then 503 with Retry-After (or finish when the locks go), "
        "never hang; reads (replicas, cache) zero errors; no leak: writes succeed after",
        lambda ctx: HoldRowLocks(ctx.keys),
        WriteRule.POOL_503,
    ),
    Scenario(
        "nginx-reload",
        "SIGHUP to nginx's master (graceful reload)",
        "zero read errors, zero write errors",
        lambda _: ReloadNginx(),
        holds=False,
    ),
)


def by_names(names: list[str] | None) -> list[Scenario]:
    """The named scenarios in the order given (all, in table order, when `names` is empty)."""
    if not names:
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]
