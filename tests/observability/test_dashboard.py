"""The Grafana dashboard: every expression parses (as recording rules through `promtool check rules`)
and names only metrics that a real cityscale instance, the real exporters (scraped while running: see
monitored.py) or the recording rules export. The alert rules get the same name check."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.observability.monitored import Monitored
from tests.observability.promql_names import metric_names
from tests.observability.promtool import REPO, RULES, promtool
from tests.support.servers import api_instance

GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
# Grafana's own interval macros, replaced by a plain duration so promtool can parse the expression.
MACROS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, expr) for every query of every dashboard, with Grafana's macros substituted."""
    found = []
    for path in DASHBOARDS:
        for panel in _panels(json.loads(path.read_text())["panels"]):
            for target in panel.get("targets", []):
                expr = target["expr"]
                for macro, value in MACROS.items():
                    expr = expr.replace(macro, value)
                found.append((f"{path.name}: {panel['title']} ({target['refId']})", expr))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    return [
        (f"{path.name}: {rule.get('alert') or rule.get('record')}", rule["expr"])
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def recorded_names() -> set[str]:
    return {
        rule["record"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


# postgres_exporter's replication collector came in 0.13 (the Compose image, v0.17); Debian 12 ships 0.11,
# so these two cannot be scraped here. They are the only names taken on the word of the exporter's source.
NEWER_THAN_DEBIAN = {"postgres": {"pg_replication_lag_seconds", "pg_replication_is_replica"}}


def documented_names() -> dict[str, set[str]]:
    documented = yaml.safe_load((GRAFANA_DIR / "exporter-metrics.yml").read_text())
    return {job: set(exporter["metrics"]) for job, exporter in documented.items()}


@pytest.fixture(scope="module")
def exporter_names(monitored: Monitored) -> dict[str, set[str]]:
    """Per job, the names its exporter really serves, scraped from the running Debian exporter; for an
    exporter that is not installed, the documented list stands in (the test says so by skipping
    `test_documented_exporter_names_are_real` for it). Prometheus's own per-target series (`up`,
    `scrape_*`) are synthetic: no exporter serves them, so they come from the documented list."""
    documented = documented_names()
    names = {"prometheus": documented["prometheus"]}
    for job in ("nginx", "postgres", "redis"):
        if job in monitored.exporters:
            names[job] = monitored.exported_names(job) | NEWER_THAN_DEBIAN.get(job, set())
        else:
            names[job] = documented[job]
    return names


@pytest.fixture(scope="module")
def cityscale_names(pg: object, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every family and sample name a real instance exports (with Redis and replicas unconfigured,
    their families are still declared)."""
    from tests.support.servers import clone_database_sync

    env = {"DATABASE_URL": clone_database_sync(pg), "LOG_LEVEL": "warning"}  # type: ignore[arg-type]
    with api_instance(env, tmp_path_factory.mktemp("dashboard")) as api:

        async def scrape() -> str:
            async with httpx.AsyncClient(timeout=10) as client:
                await client.get(f"{api.url}/api/cities/1")  # so histograms have samples
                return (await client.get(f"{api.url}/metrics")).text

        text = asyncio.run(scrape())
    names = set()
    for family in text_string_to_metric_families(text):
        # A declared family exports these sample names even before its first sample (e.g. an error
        # counter before the first error).
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
        names.update(sample.name for sample in family.samples)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (route, le) (rate(a_bucket{route!~"/x|/y",le="0.1"}[5m]))) '
        "> on (instance) group_left max by (instance) (b:rate5m) * 1e3 and c offset 1h"
    )
    assert metric_names(expr) == {"a_bucket", "b:rate5m", "c"}


def test_dashboard_has_the_required_sections() -> None:
    titles = {panel["title"] for path in DASHBOARDS for panel in _panels(json.loads(path.read_text())["panels"])}
    rows = {"RED per route", "Latency", "Database pool", "Cache", "Replicas", "nginx"}
    assert rows <= titles


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    assert len(expressions) > 30
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:expr_{i}", "expr": e} for i, (_, e) in enumerate(expressions)],
            }
        ]
    }
    path = tmp_path / "dashboard-as-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    promtool("check", "rules", path)


def _known(cityscale_names: set[str], exporter_names: dict[str, set[str]]) -> set[str]:
    return cityscale_names | set().union(*exporter_names.values()) | recorded_names()


def test_dashboard_names_only_exported_metrics(cityscale_names: set[str], exporter_names: dict[str, set[str]]) -> None:
    known = _known(cityscale_names, exporter_names)
    unknown = {
        f"{where}: {sorted(metric_names(e) - known)}" for where, e in dashboard_expressions() if metric_names(e) - known
    }
    assert unknown == set()


def test_alert_rules_name_only_exported_metrics(cityscale_names: set[str], exporter_names: dict[str, set[str]]) -> None:
    known = _known(cityscale_names, exporter_names)
    unknown = {
        f"{where}: {sorted(metric_names(e) - known)}" for where, e in rule_expressions() if metric_names(e) - known
    }
    assert unknown == set()


@pytest.mark.parametrize("job", ["nginx", "postgres", "redis"])
def test_documented_exporter_names_are_real(job: str, monitored: Monitored) -> None:
    """deploy/grafana/exporter-metrics.yml (what the docs promise) lists only names the exporter serves."""
    if job not in monitored.exporters:
        pytest.skip(f"the {job} exporter is not installed here: {monitored.missing}")
    real = monitored.exported_names(job) | NEWER_THAN_DEBIAN.get(job, set())
    assert documented_names()[job] - real == set()


def test_provisioning_points_at_the_dashboards_and_datasource() -> None:
    datasource = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {source["uid"] for source in datasource["datasources"]}
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard["panels"]):
            if "datasource" in panel:
                assert panel["datasource"]["uid"] in uids, panel["title"]
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "cityscale.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
