"""The runner: every check bounded in time, a broken check reported instead of hiding the others."""

from __future__ import annotations

import threading

import pytest

from cityscale.doctor import runner
from cityscale.doctor.context import Context
from cityscale.doctor.registry import Check, SelectionError, all_checks, select
from cityscale.doctor.report import Layer, Outcome, Status, ok
from tests.doctor.worlds import World


def test_a_check_that_overruns_its_deadline_is_skipped_with_the_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def hangs(_ctx: Context) -> Outcome:
        release.wait(30)  # bounded even if the test fails to release it
        return ok("too late")

    def quick(_ctx: Context) -> Outcome:
        return ok("fine")

    checks = [
        Check("host.hangs", Layer.HOST, "hangs", hangs, timeout=0.2),
        Check("host.quick", Layer.HOST, "quick", quick),
    ]
    monkeypatch.setattr(runner, "all_checks", lambda: checks)
    try:
        report = runner.run_checks(world.context())
    finally:
        release.set()
    assert report.by_id("host.hangs").status is Status.SKIP
    assert report.by_id("host.hangs").outcome.summary == "did not finish within 0.2 s"
    assert report.by_id("host.quick").status is Status.OK


def test_a_crashing_check_is_reported_and_the_others_still_run(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def crashes(_ctx: Context) -> Outcome:
        raise RuntimeError("boom")

    checks = [Check("host.crashes", Layer.HOST, "crashes", crashes), *all_checks()[:2]]
    monkeypatch.setattr(runner, "all_checks", lambda: checks)
    report = runner.run_checks(world.context())
    assert report.by_id("host.crashes").outcome.summary == "the check itself failed: RuntimeError: boom"
    assert len(report.findings) == 3


def test_every_check_has_a_layer_prefixed_unique_id_and_a_title() -> None:
    checks = all_checks()
    assert len({c.id for c in checks}) == len(checks)
    assert {c.layer for c in checks} == set(Layer)
    for c in checks:
        assert c.id.startswith(f"{c.layer}.")
        assert c.title


def test_selection_by_layer_and_id_and_unknown_names() -> None:
    checks = all_checks()
    chosen = select(checks, only=["database", "cache.redis"], skip=["database.replicas"])
    assert {c.id for c in chosen} == {c.id for c in checks if c.layer is Layer.DATABASE} - {"database.replicas"} | {
        "cache.redis"
    }
    with pytest.raises(SelectionError, match="unknown check or layer 'databse'"):
        select(checks, only=["databse"])


def test_json_document_shape_and_exit_code(world: World) -> None:
    world.environ["API_TOKEN"] = "changeme"
    report = world.run(only=["config", "host"])
    document = report.to_json(world.root)
    assert document["schemaVersion"] == 1
    assert document["exitCode"] == report.exit_code == 2
    summary = document["summary"]
    assert isinstance(summary, dict)
    assert sum(summary.values()) == len(report.findings)
    (token,) = [c for c in document["checks"] if c["id"] == "config.api-token"]  # type: ignore[union-attr]
    assert token["status"] == "fail"
    assert token["layer"] == "config"
    assert token["remediation"].startswith("set API_TOKEN=")
