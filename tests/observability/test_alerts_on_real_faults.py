"""The alert rules select the series a real instance really exports: a real Prometheus (the one
`cityscale up` runs, with the packaged rules) scraping a real instance sees the pool-exhaustion,
instance-down, replica-lag and replica-down alerts become active when those faults are injected.
(`promtool test rules` proves the thresholds and `for:` durations on synthetic series; this proves the
names and labels match reality.)"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import httpx
import pytest

from cityscale.stack.prometheus import ScrapeTargets, prometheus_binary, start_prometheus
from tests.support.locks import cities_locked
from tests.support.servers import api_instance
from tests.support.topology import Topology, topology

pytestmark = pytest.mark.slow


def _active_alerts(url: str) -> set[str]:
    """Names of the alerts pending or firing now."""
    with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=5) as response:  # noqa: S310 - loopback
        alerts = json.loads(response.read())["data"]["alerts"]
    return {alert["labels"]["alertname"] for alert in alerts}


async def _until_scraped(url: str, series: str, timeout: float = 60) -> None:
    """Wait for Prometheus to hold a sample of `series`: a counter first seen already raised shows no
    increase, so faults are injected only once the healthy value is recorded."""
    deadline = time.monotonic() + timeout
    query = urllib.parse.urlencode({"query": series})
    while True:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as response:  # noqa: S310
            if json.loads(response.read())["data"]["result"]:
                return
        assert time.monotonic() < deadline, f"Prometheus never scraped {series}"
        await asyncio.sleep(0.5)


async def _until_active(url: str, wanted: set[str], timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        active = await asyncio.to_thread(_active_alerts, url)
        if wanted <= active:
            return active
        assert time.monotonic() < deadline, f"alerts {sorted(wanted - active)} never became active; active: {active}"
        await asyncio.sleep(0.5)


async def test_pool_exhaustion_and_a_dead_instance_raise_their_alerts(api_env: dict[str, str], tmp_path: Path) -> None:
    if prometheus_binary() is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    env = {
        **api_env,
        "DB_POOL_MAX": "1",
        "DB_POOL_MIN": "0",
        "DB_ACQUIRE_TIMEOUT": "0.5",
        "DB_STATEMENT_TIMEOUT": "60",  # the stuck read holds the one connection until the lock goes
        "CACHE_TTL": "0",
    }
    with api_instance(env, tmp_path) as api:
        server = start_prometheus(
            tmp_path / "prometheus", ScrapeTargets(api=[f"127.0.0.1:{api.port}"]), say=lambda _: None, environ={}
        )
        assert server is not None
        try:
            async with httpx.AsyncClient(timeout=70) as client:
                assert (await client.get(f"{api.url}/api/cities/1")).status_code == 200
                await _until_scraped(server.url, "cityscale_db_pool_acquire_timeouts_total")
                assert _active_alerts(server.url) == set()  # a healthy instance raises nothing
                async with cities_locked(api_env["DATABASE_URL"]) as lock:
                    stuck = asyncio.create_task(client.get(f"{api.url}/api/cities/1"))  # holds the connection
                    await asyncio.sleep(0.5)
                    for _ in range(3):  # each gives up acquiring after 0.5 s: 503
                        assert (await client.get(f"{api.url}/api/cities/2")).status_code == 503
                    active = await _until_active(server.url, {"CityscalePoolAcquireTimeouts", "CityscalePoolSaturated"})
                    await lock.release()
                    assert (await stuck).status_code == 200
            assert "CityscaleInstanceDown" not in active
            api.stop()
            await _until_active(server.url, {"CityscaleInstanceDown"})
        finally:
            server.stop()


def test_replica_lag_and_a_dead_replica_raise_their_alerts(tmp_path: Path) -> None:
    if prometheus_binary() is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    # MAX_REPLICA_LAG=1 (the topology's): a replica more than 1 s behind is lagging.
    with topology(instances=1, seed_limit=200) as topo:
        api = topo.apis[0]
        server = start_prometheus(
            tmp_path / "prometheus", ScrapeTargets(api=[f"127.0.0.1:{api.port}"]), say=lambda _: None, environ={}
        )
        assert server is not None
        try:
            asyncio.run(_lag_then_kill_the_replica(topo, server.url))
        finally:
            server.stop()


async def _lag_then_kill_the_replica(topo: Topology, prometheus: str) -> None:
    await _until_scraped(prometheus, 'cityscale_db_server_up{pool="replica-1"} == 1')
    assert _active_alerts(prometheus) == set()
    await topo.query_replica("SELECT pg_wal_replay_pause()")
    try:
        await topo.query_primary("UPDATE cities SET population = population + 1 WHERE id = 1")
        active = await _until_active(prometheus, {"CityscaleReplicaLagging"})
    finally:
        await topo.query_replica("SELECT pg_wal_replay_resume()")
    assert "CityscaleReplicaDown" not in active  # lagging, not down
    topo.replica.stop(mode="immediate")
    await _until_active(prometheus, {"CityscaleReplicaDown"})
