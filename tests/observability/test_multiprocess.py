"""`cityscale serve --workers 2`: /metrics sums the request histograms of both worker processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.ports import free_port
from tests.observability.scrape import parse, value

pytestmark = pytest.mark.slow

BATCH = 20
MAX_BATCHES = 20


async def test_two_workers_are_counted_together(api_env: dict[str, str], tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from an earlier run")
    env = {**api_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    api = ApiInstance("api-mp", port=free_port(), env=env, log_path=tmp_path / "api.log", workers=2)
    api.start()
    try:
        api.wait_ready()
        # Concurrent fresh connections, in bounded batches, until both workers have served some: which
        # worker accepts a connection is the kernel's choice.
        sent = 0
        limits = httpx.Limits(max_keepalive_connections=0)
        for _ in range(MAX_BATCHES):
            async with httpx.AsyncClient(timeout=10, limits=limits) as client:
                batch = [client.get(f"{api.url}/api/cities/{sent + i + 1}") for i in range(BATCH)]
                assert {response.status_code for response in await asyncio.gather(*batch)} == {200}
            sent += BATCH
            if len([n for n in _request_counts_per_file(metrics_dir).values() if n > 0]) == 2:
                break
        counts = set()
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(10):
                samples = parse((await client.get(f"{api.url}/metrics")).text)
                counts.add(value(samples, "cityscale_http_request_duration_seconds_count", route="/api/cities/{id}"))
        files = {path.name for path in metrics_dir.glob("*.db")}
        per_worker = _request_counts_per_file(metrics_dir)
    finally:
        api.stop()
    assert "counter_999999.db" not in files  # emptied at start
    # Both workers served (each counts in its own file), and whichever answers the scrape reports the total.
    assert len([n for n in per_worker.values() if n > 0]) == 2, per_worker
    assert sum(per_worker.values()) == sent
    assert counts == {sent}
    assert "cityscale_db_pool_size" not in {name for name, _ in samples}  # one worker's state is not exported
    log = (tmp_path / "api.log").read_text()
    assert "2 worker(s)" in log


def _request_counts_per_file(directory: Path) -> dict[str, float]:
    """Item requests counted in each worker's histogram file (read the way prometheus_client reads them)."""
    counts = {}
    for path in directory.glob("histogram_*.db"):
        total = 0.0
        for key, count, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            _metric, sample, labels, _help = json.loads(key)
            # Each worker's file holds per-bucket (not cumulative) counts; their sum is its request count.
            if sample == "cityscale_http_request_duration_seconds_bucket" and labels.get("route") == "/api/cities/{id}":
                total += count
        counts[path.name] = total
    return counts
