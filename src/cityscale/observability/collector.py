"""Scrape-time metrics: read the state the service already keeps, so the request path pays nothing.

Pool sizes come from the pools, cache counters from `ReadCache.counters` and the single-flight,
replica health and lag from the database monitors, breaker states from the breakers. Each scrape
builds the families afresh from those attributes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cityscale import __version__
from cityscale.breaker import BreakerState, CircuitBreaker
from cityscale.observability.build import COMMIT_ENV

if TYPE_CHECKING:
    from cityscale.cache.read_through import ReadCache
    from cityscale.store.database import Database

# Numeric breaker states: alert rules compare with `== 2` (open); half-open sits between.
BREAKER_STATE_VALUES = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}


def build_commit() -> str:
    commit = os.environ.get(COMMIT_ENV, "").strip()
    # Bounded and label-safe: a hex id or a short tag, never free text.
    return commit[:40] if commit and all(c.isalnum() or c in "._-" for c in commit) else "unknown"


class ServiceStateCollector(Collector):
    """Exports the live state of one app's database pools, monitors, cache and breakers."""

    def __init__(self, database: Database, cache: ReadCache) -> None:
        self.database = database
        self.cache = cache
        self.commit = build_commit()

    def collect(self) -> Iterable[Metric]:
        yield from self._build_info()
        yield from self._pools()
        yield from self._servers()
        yield from self._cache()
        yield from self._breakers()

    def _build_info(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "cityscale_build_info", "Always 1; the labels say which build runs.", labels=["version", "commit"]
        )
        info.add_metric([__version__, self.commit], 1.0)
        yield info

    def _pools(self) -> Iterator[Metric]:
        labels = ["pool", "role"]
        size = GaugeMetricFamily("cityscale_db_pool_size", "Open connections in the pool.", labels=labels)
        max_size = GaugeMetricFamily("cityscale_db_pool_max", "The pool's limit (DB_POOL_MAX).", labels=labels)
        in_use = GaugeMetricFamily("cityscale_db_pool_in_use", "Connections borrowed by requests.", labels=labels)
        idle = GaugeMetricFamily("cityscale_db_pool_idle", "Open connections not borrowed.", labels=labels)
        waiting = GaugeMetricFamily(
            "cityscale_db_pool_waiting", "Requests waiting to acquire a connection.", labels=labels
        )
        for server in self.database.servers:
            pool = server.pool
            values = [pool.name, pool.role]
            size.add_metric(values, pool.size)
            max_size.add_metric(values, pool.limits.max_size)
            in_use.add_metric(values, pool.in_use)
            idle.add_metric(values, pool.idle)
            waiting.add_metric(values, pool.waiting)
        yield from (size, max_size, in_use, idle, waiting)

    def _servers(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "cityscale_db_server_up",
            "1 while the background monitor's last check of this server succeeded.",
            labels=["pool", "role"],
        )
        lag = GaugeMetricFamily(
            "cityscale_db_replica_lag_seconds",
            "Replay lag of each replica as last measured (meaningful while cityscale_db_server_up is 1).",
            labels=["pool"],
        )
        for server in self.database.servers:
            up.add_metric([server.pool.name, server.pool.role], 1.0 if server.state.healthy else 0.0)
        for replica in self.database.replicas:
            lag.add_metric([replica.pool.name], replica.state.lag_seconds)
        limit = GaugeMetricFamily(
            "cityscale_db_replica_lag_limit_seconds",
            "MAX_REPLICA_LAG: replicas lagging more than this are not read from.",
            value=self.database.max_lag,
        )
        yield from (up, lag, limit)

    def _cache(self) -> Iterator[Metric]:
        counters = self.cache.counters
        lookups = CounterMetricFamily(
            "cityscale_cache_requests",
            "Cache lookups by layer (l1: in-process, redis: shared) and result (hit, miss, error).",
            labels=["layer", "result"],
        )
        lookups.add_metric(["l1", "hit"], counters.l1_hits)
        lookups.add_metric(["l1", "miss"], counters.l1_misses)
        lookups.add_metric(["redis", "hit"], counters.redis_hits)
        lookups.add_metric(["redis", "miss"], counters.redis_misses)
        lookups.add_metric(["redis", "error"], counters.redis_errors)
        yield lookups
        yield CounterMetricFamily(
            "cityscale_cache_singleflight_waits",
            "Reads that joined a database load already in flight for the same key instead of querying.",
            value=self.cache.flight.waits,
        )
        yield CounterMetricFamily(
            "cityscale_cache_stale_served",
            "Reads answered with an entry past its freshness because the database could not answer.",
            value=counters.stale_served,
        )
        yield CounterMetricFamily(
            "cityscale_cache_fills_refused",
            "Redis fills refused because a newer write's tombstone was present.",
            value=counters.fills_refused,
        )

    def _breakers(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "cityscale_breaker_state",
            "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
            labels=["breaker"],
        )
        breakers: list[CircuitBreaker] = [server.breaker for server in self.database.servers]
        if self.cache.redis is not None:
            breakers.append(self.cache.redis.breaker)
        for breaker in breakers:
            state.add_metric([breaker.name], BREAKER_STATE_VALUES[breaker.state])
        yield state
