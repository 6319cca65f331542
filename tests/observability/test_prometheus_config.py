"""Prometheus configs (Compose, native, Grafana Cloud) pass `promtool check config`, and a real
Prometheus started by `PrometheusServer` scrapes a real API instance and loads the alert rules."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from cityscale.stack.prometheus import (
    REMOTE_WRITE_PASSWORD_FILE_ENV,
    REMOTE_WRITE_URL_ENV,
    REMOTE_WRITE_USER_ENV,
    RemoteWrite,
    RemoteWriteConfigError,
    ScrapeTargets,
    prometheus_binary,
    render_config,
    start_prometheus,
)
from tests.observability.promtool import PROMETHEUS_DIR, REPO, promtool
from tests.support.servers import api_instance

TOKEN = "glc_test-only-token-never-used"  # a fake token; the check is that it never reaches a config
CLOUD_URL = "https://prometheus-prod-01-eu-west-0.grafana.net/api/prom/push"


def test_compose_config_passes_promtool() -> None:
    promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml")


def _render_grafana_cloud(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(REPO / "deploy" / "grafana-cloud" / "render.sh")],
        env={
            "PATH": os.environ["PATH"],
            "PROMETHEUS_CONFIG_IN": str(PROMETHEUS_DIR / "prometheus.yml"),
            "REMOTE_WRITE_FRAGMENT": str(REPO / "deploy" / "grafana-cloud" / "remote-write.yml"),
            "PROMETHEUS_RULES_DIR": str(PROMETHEUS_DIR / "rules"),
            "PROMETHEUS_CONFIG_OUT": str(tmp_path / "rendered.yml"),
            "RENDER_ONLY": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_grafana_cloud_compose_config_renders_from_environment_and_passes_promtool(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    result = _render_grafana_cloud(
        tmp_path,
        GRAFANA_CLOUD_PROMETHEUS_URL=CLOUD_URL,
        GRAFANA_CLOUD_PROMETHEUS_USER="123456",
        GRAFANA_CLOUD_API_KEY_PATH=str(token),
    )
    assert result.returncode == 0, result.stderr
    rendered = (tmp_path / "rendered.yml").read_text()
    assert CLOUD_URL in rendered
    assert str(token) in rendered
    assert TOKEN not in rendered
    promtool("check", "config", tmp_path / "rendered.yml")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"GRAFANA_CLOUD_PROMETHEUS_USER": "1"}, "GRAFANA_CLOUD_PROMETHEUS_URL"),
        ({"GRAFANA_CLOUD_PROMETHEUS_URL": CLOUD_URL}, "GRAFANA_CLOUD_PROMETHEUS_USER"),
        ({"GRAFANA_CLOUD_PROMETHEUS_URL": "http://plain", "GRAFANA_CLOUD_PROMETHEUS_USER": "1"}, "https://"),
        (
            {"GRAFANA_CLOUD_PROMETHEUS_URL": CLOUD_URL, "GRAFANA_CLOUD_PROMETHEUS_USER": "1"},
            "grafana_cloud_api_key",
        ),
    ],
)
def test_grafana_cloud_render_refuses_incomplete_settings_in_one_line(
    tmp_path: Path, env: dict[str, str], names: str
) -> None:
    result = _render_grafana_cloud(tmp_path, GRAFANA_CLOUD_API_KEY_PATH=str(tmp_path / "absent"), **env)
    assert result.returncode == 2
    assert names in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "rendered.yml").exists()


def test_native_config_with_remote_write_passes_promtool(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    remote = RemoteWrite.from_environment(
        {REMOTE_WRITE_URL_ENV: CLOUD_URL, REMOTE_WRITE_USER_ENV: "123456", REMOTE_WRITE_PASSWORD_FILE_ENV: str(token)}
    )
    assert remote is not None
    targets = ScrapeTargets(
        api=["127.0.0.1:3001", "127.0.0.1:3002"],
        nginx_exporter="127.0.0.1:9113",
        postgres_exporters=[("primary", "127.0.0.1:9187"), ("replica-1", "127.0.0.1:9188")],
        redis_exporter="127.0.0.1:9121",
    )
    text = render_config(
        targets, self_address="127.0.0.1:9090", rules_dir=PROMETHEUS_DIR / "rules", remote_write=remote
    )
    assert TOKEN not in text
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    promtool("check", "config", config)
    jobs = {job["job_name"]: job for job in json.loads(text.split("\n", 1)[1])["scrape_configs"]}
    assert set(jobs) == {"cityscale", "prometheus", "nginx", "postgres", "redis"}
    assert jobs["cityscale"]["static_configs"][0]["targets"] == ["127.0.0.1:3001", "127.0.0.1:3002"]
    assert [c["labels"]["server"] for c in jobs["postgres"]["static_configs"]] == ["primary", "replica-1"]


def test_remote_write_from_environment() -> None:
    assert RemoteWrite.from_environment({}) is None
    with pytest.raises(RemoteWriteConfigError, match=REMOTE_WRITE_PASSWORD_FILE_ENV):
        RemoteWrite.from_environment({REMOTE_WRITE_URL_ENV: CLOUD_URL, REMOTE_WRITE_USER_ENV: "1"})
    with pytest.raises(RemoteWriteConfigError, match="https://"):
        RemoteWrite.from_environment(
            {
                REMOTE_WRITE_URL_ENV: "http://x",
                REMOTE_WRITE_USER_ENV: "1",
                REMOTE_WRITE_PASSWORD_FILE_ENV: "/etc/hostname",
            }
        )
    with pytest.raises(RemoteWriteConfigError, match="not a readable file"):
        RemoteWrite.from_environment(
            {
                REMOTE_WRITE_URL_ENV: CLOUD_URL,
                REMOTE_WRITE_USER_ENV: "1",
                REMOTE_WRITE_PASSWORD_FILE_ENV: "/nonexistent",
            }
        )


def _query(base: str, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base}{path}", timeout=5) as response:  # noqa: S310 - our loopback Prometheus
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_prometheus_server_scrapes_a_real_instance_and_loads_the_rules(api_env: dict[str, str], tmp_path: Path) -> None:
    if prometheus_binary() is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    said: list[str] = []
    with api_instance(api_env, tmp_path) as api:
        server = start_prometheus(
            tmp_path / "prometheus", ScrapeTargets(api=["127.0.0.1:1"]), say=said.append, environ={}
        )
        assert server is not None
        assert said == [f"Prometheus at {server.url} (scraping 1 API instance(s))"]
        try:
            # Started with a dead target, then pointed at the real instance: the reload path of `up`.
            server.update_targets(ScrapeTargets(api=[f"127.0.0.1:{api.port}"]))
            deadline = time.monotonic() + 30
            while True:
                result = _query(server.url, "/api/v1/query?query=up%7Bjob%3D%22cityscale%22%7D")
                samples = result["data"]["result"]  # type: ignore[index]
                if samples and samples[0]["value"][1] == "1":
                    break
                assert time.monotonic() < deadline, f"Prometheus never scraped the instance: {result}"
                time.sleep(0.5)
            rules = _query(server.url, "/api/v1/rules")
            names = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}  # type: ignore[index]
            assert "CityscalePoolAcquireTimeouts" in names
            built = _query(server.url, "/api/v1/query?query=cityscale_build_info")
            assert built["data"]["result"], "cityscale_build_info was not scraped"  # type: ignore[index]
        finally:
            server.stop()


def test_start_prometheus_says_why_not_when_it_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cityscale.stack import prometheus

    monkeypatch.setattr(prometheus, "prometheus_binary", lambda: None)  # as on a machine without the package
    said: list[str] = []
    assert prometheus.start_prometheus(tmp_path, ScrapeTargets(api=["127.0.0.1:1"]), say=said.append) is None
    assert len(said) == 1
    assert "apt-get install -y prometheus" in said[0]
