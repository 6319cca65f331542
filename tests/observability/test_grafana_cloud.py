"""Grafana Cloud shipping, tested as far as it can be without Grafana Cloud: the Alloy config's structure
(no `alloy` binary here), the keep-list that bounds the series billed, and a real Prometheus remote-writing
through that keep-list to a second real Prometheus acting as the receiver."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from cityscale.stack.ports import free_port
from cityscale.stack.process import ManagedProcess, wait_for_http
from cityscale.stack.prometheus import (
    REMOTE_WRITE_KEEP,
    PrometheusServer,
    RemoteWrite,
    ScrapeTargets,
    prometheus_binary,
    render_config,
)
from tests.observability.alloy_syntax import AlloySyntaxError, Block, Call, Ref, parse
from tests.observability.promql_names import metric_names
from tests.observability.promtool import PROMETHEUS_DIR, REPO
from tests.observability.test_dashboard import dashboard_expressions, rule_expressions
from tests.support.servers import api_instance

ALLOY = REPO / "deploy" / "alloy" / "config.alloy"
FRAGMENT = REPO / "deploy" / "grafana-cloud" / "remote-write.yml"
CREDENTIAL_VARIABLES = {"GRAFANA_CLOUD_PROMETHEUS_URL", "GRAFANA_CLOUD_PROMETHEUS_USER", "GRAFANA_CLOUD_API_KEY"}
# Real names the exporters, Prometheus and prometheus_client export that nothing reads: never shipped.
UNUSED_REAL_NAMES = {
    "prometheus_tsdb_head_series",
    "scrape_duration_seconds",
    "go_goroutines",
    "python_gc_objects_collected_total",
    "python_info",
    "process_cpu_seconds_total",
    "pg_settings_shared_buffers_bytes",
    "pg_stat_database_tup_fetched",
    "redis_commands_total",
    "redis_db_keys",
}


def _alloy() -> Block:
    return parse(ALLOY.read_text())


def test_the_alloy_parser_refuses_what_is_not_alloy() -> None:
    for broken in ('a "x" {\n b = 1\n', "a = ", 'a "x" { b = [1 2] }', "a = { b 1 }", "a = 1\na = 2", "a ; b"):
        with pytest.raises(AlloySyntaxError):
            parse(broken)


def test_alloy_scrapes_every_instance_and_exporter_the_compose_prometheus_scrapes() -> None:
    config = _alloy()
    prometheus = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"] if job["job_name"] != "prometheus"}
    scrapes = {block.attributes["job_name"]: block for block in config.find("prometheus.scrape")}
    assert set(scrapes) == set(jobs)

    # The API: every container behind the `api` name, on the same port.
    dns = config.one("discovery.dns", "api").attributes
    (sd,) = jobs["cityscale"]["dns_sd_configs"]
    assert (dns["names"], dns["type"], int(dns["port"])) == (sd["names"], sd["type"], sd["port"])
    assert scrapes["cityscale"].attributes["targets"] == Ref("discovery.dns.api.targets")

    # The exporters: the same addresses and labels as the Compose Prometheus.
    for job, scrape in scrapes.items():
        if job == "cityscale":
            continue
        expected = [
            {"__address__": target, **static.get("labels", {})}
            for static in jobs[job]["static_configs"]
            for target in static["targets"]
        ]
        assert scrape.attributes["targets"] == expected, job


def test_alloy_ships_only_through_the_keep_list_with_credentials_from_the_environment() -> None:
    config = _alloy()
    (relabel,) = config.find("prometheus.relabel")
    for scrape in config.find("prometheus.scrape"):
        assert scrape.attributes["forward_to"] == [Ref(f"prometheus.relabel.{relabel.label}.receiver")]
    (rule,) = relabel.find("rule")
    assert rule.attributes == {"source_labels": ["__name__"], "regex": REMOTE_WRITE_KEEP, "action": "keep"}
    (remote,) = config.find("prometheus.remote_write")
    assert relabel.attributes["forward_to"] == [Ref(f"prometheus.remote_write.{remote.label}.receiver")]

    endpoint = remote.one("endpoint")
    auth = endpoint.one("basic_auth")
    secrets = {"url": endpoint.attributes["url"], **auth.attributes}
    assert set(secrets) == {"url", "username", "password"}
    assert all(isinstance(v, Call) and v.function == "sys.env" for v in secrets.values()), secrets
    assert {v.args[0] for v in secrets.values()} == CREDENTIAL_VARIABLES

    # And the Compose service passes exactly those variables in.
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert set(compose["services"]["alloy"]["environment"]) == CREDENTIAL_VARIABLES


def test_the_keep_list_is_the_same_for_native_compose_and_alloy(tmp_path: Path) -> None:
    fragment = yaml.safe_load(FRAGMENT.read_text())
    (relabel,) = fragment["remote_write"][0]["write_relabel_configs"]
    assert relabel == {"source_labels": ["__name__"], "regex": REMOTE_WRITE_KEEP, "action": "keep"}

    token = tmp_path / "token"
    token.write_text("x")
    remote = RemoteWrite("https://example.invalid/api/prom/push", "1", token)
    native = json.loads(render_config(ScrapeTargets(api=["127.0.0.1:1"]), self_address="x:1", remote_write=remote)
                        .split("\n", 1)[1])  # fmt: skip
    assert native["remote_write"][0]["write_relabel_configs"] == [relabel]


def test_the_keep_list_keeps_every_name_the_dashboard_and_alerts_read_and_drops_the_rest() -> None:
    keep = re.compile(REMOTE_WRITE_KEEP)  # Prometheus anchors relabel regexes: fullmatch
    used = set().union(*(metric_names(e) for _, e in [*dashboard_expressions(), *rule_expressions()]))
    assert len(used) > 30
    assert {name for name in used if not keep.fullmatch(name)} == set()
    assert {name for name in UNUSED_REAL_NAMES if keep.fullmatch(name)} == set()


def _get(base: str, path: str, **params: str) -> dict[str, object]:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback Prometheus
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_real_prometheus_remote_writes_only_the_kept_series(api_env: dict[str, str], tmp_path: Path) -> None:
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    # The receiver stands in for Grafana Cloud: a second Prometheus accepting remote writes.
    receiver_port = free_port()
    (tmp_path / "receiver.yml").write_text("global: {}\n")
    receiver = ManagedProcess(
        "receiver",
        [
            str(binary),
            f"--config.file={tmp_path / 'receiver.yml'}",
            f"--storage.tsdb.path={tmp_path / 'receiver-data'}",
            f"--web.listen-address=127.0.0.1:{receiver_port}",
            "--web.enable-remote-write-receiver",
        ],
        log_path=tmp_path / "receiver.log",
    )
    receiver.start()
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    token = tmp_path / "token"
    token.write_text("test-only-token")
    try:
        wait_for_http(f"{receiver_url}/-/ready", timeout=30, process=receiver)
        with api_instance(api_env, tmp_path) as api:
            sender = PrometheusServer(
                tmp_path / "sender",
                ScrapeTargets(api=[f"127.0.0.1:{api.port}"]),
                remote_write=RemoteWrite(f"{receiver_url}/api/v1/write", "123456", token),
            )
            sender.start()
            try:
                sender.wait_ready()
                deadline = time.monotonic() + 60
                while True:
                    shipped = set(_get(receiver_url, "/api/v1/label/__name__/values")["data"])  # type: ignore[arg-type]
                    if {"cityscale_build_info", "up", "process_open_fds"} <= shipped:
                        break
                    assert time.monotonic() < deadline, f"not shipped in 60 s; got {sorted(shipped)}"
                    time.sleep(0.5)
                local = set(_get(sender.url, "/api/v1/label/__name__/values")["data"])  # type: ignore[arg-type]
            finally:
                sender.stop()
    finally:
        receiver.stop()
    # The sender had its own internals and prometheus_client's python_* series; none were shipped.
    assert {"prometheus_tsdb_head_series", "python_info", "process_cpu_seconds_total"} <= local
    assert {name for name in shipped if not re.fullmatch(REMOTE_WRITE_KEEP, name)} == set()
