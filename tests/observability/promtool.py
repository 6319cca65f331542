"""Running Debian's `promtool` from tests (skipped with the install command when it is missing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
# The rules as shipped in the package (the source); deploy/prometheus/rules is Compose's identical copy.
PACKAGED_RULES_DIR = REPO / "src" / "cityscale" / "observability" / "rules"
RULES = sorted(PACKAGED_RULES_DIR.glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool; the test fails with its full output when it exits non-zero."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (apt-get install prometheus; scripts/test installs it)")
    result = subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result
