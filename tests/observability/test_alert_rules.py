"""The alert rules: valid, documented with a runbook, and each one proven to fire by `promtool test rules`."""

from __future__ import annotations

from typing import Any

import yaml

from tests.observability.promtool import PROMETHEUS_DIR, RULE_TESTS, RULES, promtool

REQUIRED_ANNOTATIONS = {"summary", "runbook", "runbook_url"}
# What issue 6 asks to be alerted on, by the alert that covers it.
REQUIRED_ALERTS = {
    "CityscaleErrorBudgetBurnFast",  # error-rate SLO burn, multi-window multi-burn-rate (page)
    "CityscaleErrorBudgetBurnSlow",  # ... and (ticket)
    "CityscaleLatencyP99OverSlo",
    "CityscalePoolSaturated",
    "CityscalePoolAcquireTimeouts",
    "CityscalePoolLeak",
    "CityscaleCacheHitRatioCollapse",
    "CityscaleReplicaLagging",
    "CityscaleReplicaDown",
    "CityscaleRedisDown",
    "CityscaleInstanceDown",
    "CityscaleNginxDown",
    "CityscaleExporterDown",  # nginx, PostgreSQL and Redis exporters
}
# (long window, short window, burn rate) of each multi-window pair (Google SRE workbook, table 5-8).
BURN_PAIRS = {
    "CityscaleErrorBudgetBurnFast": [("1h", "5m", "14.4"), ("6h", "30m", "6")],
    "CityscaleErrorBudgetBurnSlow": [("1d", "2h", "3"), ("3d", "6h", "1")],
}
EXPORTER_JOBS = {"nginx", "postgres", "redis"}


def _alerts() -> dict[str, dict[str, Any]]:
    alerts = {}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts[rule["alert"]] = rule
    return alerts


def test_rule_files_pass_promtool_check() -> None:
    promtool("check", "rules", *RULES)


def test_rule_unit_tests_pass() -> None:
    promtool("test", "rules", *RULE_TESTS, cwd=PROMETHEUS_DIR)


def test_every_alert_has_a_runbook_and_a_severity() -> None:
    alerts = _alerts()
    assert set(alerts) >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert set(rule.get("annotations", {})) >= REQUIRED_ANNOTATIONS, name
        assert rule["annotations"]["runbook_url"].startswith("docs/observability.md#"), name
        assert rule.get("labels", {}).get("severity") in {"page", "ticket"}, name


def _fired() -> list[tuple[str, dict[str, str]]]:
    """(alert, labels) of every alert some `promtool test rules` case expects to fire."""
    fired = []
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                fired += [(check["alertname"], alert.get("exp_labels", {})) for alert in check.get("exp_alerts") or []]
    return fired


def test_every_alert_is_shown_firing_by_a_unit_test() -> None:
    assert set(_alerts()) - {name for name, _ in _fired()} == set()


def test_every_rule_file_is_loaded_by_a_unit_test() -> None:
    loaded = {
        (path.parent / rule_file).resolve()
        for path in RULE_TESTS
        for rule_file in yaml.safe_load(path.read_text())["rule_files"]
    }
    assert {path.resolve() for path in RULES} - loaded == set()


def test_each_exporter_down_fires_in_a_unit_test() -> None:
    jobs = {labels.get("job") for name, labels in _fired() if name == "CityscaleExporterDown"}
    assert jobs >= EXPORTER_JOBS


def test_burn_rate_alerts_are_multi_window_multi_burn_rate() -> None:
    """Each pair is `long-window ratio > rate x budget and short-window ratio > rate x budget`;
    `promtool test rules` (burn-rates.yml) shows each pair firing on its own and the alerts resolving."""
    alerts = _alerts()
    for name, pairs in BURN_PAIRS.items():
        expr = " ".join(alerts[name]["expr"].split())
        for long, short, rate in pairs:
            factor = "0.001" if rate == "1" else f"({rate} * 0.001)"
            ratio = "cityscale:http_error_ratio:rate"
            pair = f"{ratio}{long} > {factor} and {ratio}{short} > {factor}"
            assert pair in expr, f"{name} lacks the {long}/{short} pair at {rate}x: {expr}"


def test_runbook_anchors_exist_in_the_docs() -> None:
    docs = (PROMETHEUS_DIR.parents[1] / "docs" / "observability.md").read_text()
    for name in _alerts():
        assert f"### {name}" in docs, f"docs/observability.md has no runbook section for {name}"
