"""The Prometheus `cityscale up` runs, on real parts: its rendered config passes promtool, and every API
instance and every exporter it is given shows as an `up` target in Prometheus's targets API."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from cityscale.stack.exporters import NGINX_EXPORTER, POSTGRES_EXPORTER, REDIS_EXPORTER
from cityscale.stack.prometheus import prometheus_binary, start_prometheus
from tests.observability.monitored import Monitored
from tests.observability.promtool import promtool

pytestmark = pytest.mark.slow

PACKAGE_OF_JOB = {"nginx": NGINX_EXPORTER[1], "postgres": POSTGRES_EXPORTER[1], "redis": REDIS_EXPORTER[1]}


def test_every_installed_exporter_starts(monitored: Monitored) -> None:
    assert monitored.said == []
    installed = {job for job, package in PACKAGE_OF_JOB.items() if package not in monitored.missing}
    assert set(monitored.exporters) == installed


def _targets(url: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{url}/api/v1/targets?state=active", timeout=5) as response:  # noqa: S310
        return json.loads(response.read())["data"]["activeTargets"]  # type: ignore[no-any-return]


def test_prometheus_scrapes_every_instance_and_exporter(monitored: Monitored, tmp_path: Path) -> None:
    if prometheus_binary() is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    said: list[str] = []
    server = start_prometheus(tmp_path / "prometheus", monitored.targets(), say=said.append, environ={})
    assert server is not None
    try:
        promtool("check", "config", server.config_path)
        expected = {("cityscale", f"127.0.0.1:{api.port}") for api in monitored.apis}
        expected |= {(job, exporter.address) for job, exporter in monitored.exporters.items()}
        expected.add(("prometheus", f"127.0.0.1:{server.port}"))
        deadline = time.monotonic() + 60
        while True:
            targets = _targets(server.url)
            health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}  # type: ignore[index]
            if set(health) == expected and set(health.values()) == {"up"}:
                break
            assert time.monotonic() < deadline, f"targets never all up: {health} (expected {sorted(expected)})"
            time.sleep(0.5)
        postgres = [t for t in targets if t["labels"]["job"] == "postgres"]  # type: ignore[index]
        assert [t["labels"]["server"] for t in postgres] == (["primary"] if "postgres" in monitored.exporters else [])  # type: ignore[index]
    finally:
        server.stop()
    assert said == [f"Prometheus at {server.url} (scraping 2 API instance(s))"]
