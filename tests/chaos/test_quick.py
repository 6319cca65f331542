"""`cityscale chaos --quick` end to end, as CI runs it: a fresh `cityscale up`, every scenario once.

Proves that under load each fault of the failure table behaves as documented (errors per phase, fast 503s,
no lost acknowledged write on the primary or the replica, caches converge within the bound), and that
the command cleans up everything it started.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityscale.chaos.scenarios import SCENARIOS
from cityscale.stack.state import is_locked
from tests.support.servers import remove, scratch_dir

pytestmark = pytest.mark.slow

RUN_LIMIT = 420  # seconds: a bound, not an expectation of speed


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    path = scratch_dir("chaos")
    yield path
    remove(path)


@pytest.fixture(scope="module")
def quick_run(base: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    report = base / "report.json"
    argv = [
        sys.executable, "-m", "cityscale", "chaos", "--quick", "--data-dir", str(base / "stack"),
        "--seed-limit", "300", "--json", str(report),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_LIMIT, check=False)
    assert report.exists(), f"no report; exit {result.returncode}:\n{result.stderr[-3000:]}"
    return result, json.loads(report.read_text())


# A real defect the runner found and that was fixed (docs/reliability.md, "Findings" 2): nginx's microcache
# answered X-Micro-Cache: STALE with the value from before a write for seconds, beyond max-age=1.
NGINX_STALENESS = "nginx microcache not stale beyond the bound"


def failed_checks(report: dict[str, object]) -> dict[str, object]:
    scenarios = report["scenarios"]
    assert isinstance(scenarios, list)
    failed = {}
    for scenario in scenarios:
        bad = [c for c in scenario["checks"] if not c["passed"]]
        if bad or scenario["recovery_seconds"] is None:
            failed[scenario["name"]] = bad or scenario["notes"]
    return failed


def test_every_scenario_ran_and_passed(
    quick_run: tuple[subprocess.CompletedProcess[str], dict[str, object]],
) -> None:
    # Every check of every scenario, the nginx microcache's staleness bound included.
    result, report = quick_run
    scenarios = report["scenarios"]
    assert isinstance(scenarios, list)
    assert [s["name"] for s in scenarios] == [s.name for s in SCENARIOS]
    failed = failed_checks(report)
    assert not failed, json.dumps(failed, indent=1)
    assert "| check | expected | observed | result |" in result.stdout
    assert result.returncode == 0


def test_each_scenario_checked_durability_and_staleness(
    quick_run: tuple[subprocess.CompletedProcess[str], dict[str, object]],
) -> None:
    _, report = quick_run
    scenarios = report["scenarios"]
    assert isinstance(scenarios, list)
    for scenario in scenarios:
        names = {check["name"] for check in scenario["checks"]}
        assert {"read errors", "write errors", "acknowledged writes on the primary", "acknowledged writes on replica-1",
                "no instance cache stale beyond the bound", NGINX_STALENESS} <= names, scenario["name"]  # fmt: skip
        assert scenario["phases"]["before"]["writes"] + scenario["phases"]["during"]["writes"] > 0


@pytest.mark.usefixtures("quick_run")
def test_the_stack_it_started_is_stopped(base: Path) -> None:
    assert not is_locked(base / "stack")
