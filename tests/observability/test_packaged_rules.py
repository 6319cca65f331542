"""The alert and recording rules are package data: an installed wheel's `cityscale up` loads them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from cityscale.stack.prometheus import RULES_PACKAGE, default_rules_dir
from tests.observability.promtool import PACKAGED_RULES_DIR, PROMETHEUS_DIR, REPO, RULES


def test_importlib_resources_finds_the_rules() -> None:
    packaged = resources.files(RULES_PACKAGE).joinpath("rules")
    names = sorted(entry.name for entry in packaged.iterdir() if entry.name.endswith(".yml"))
    assert names == [path.name for path in RULES]
    assert len(names) >= 2
    assert default_rules_dir() == PACKAGED_RULES_DIR  # what `cityscale up` hands to Prometheus


def test_composes_copy_is_identical() -> None:
    """Compose bind-mounts deploy/prometheus; its rules/ must be the packaged rules, byte for byte."""
    deployed = {path.name: path.read_bytes() for path in (PROMETHEUS_DIR / "rules").glob("*.yml")}
    packaged = {path.name: path.read_bytes() for path in RULES}
    assert deployed == packaged, "copy src/cityscale/observability/rules/*.yml to deploy/prometheus/rules/"


def test_a_built_wheel_ships_the_rules_and_finds_them_when_installed(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    build = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("cityscale-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert {f"cityscale/observability/rules/{path.name}" for path in RULES} <= set(archive.namelist())
        archive.extractall(site)  # what pip does with a pure-Python wheel
    # A fresh interpreter without site-packages (-S: not the editable install of this checkout), seeing
    # only the unpacked wheel: the package there must find its own rules.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); from importlib import resources; "
        "rules = resources.files('cityscale.observability').joinpath('rules'); "
        "print(rules); print(*sorted(e.name for e in rules.iterdir()))"
    )
    found = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(site)], capture_output=True, text=True, timeout=60, check=False
    )
    assert found.returncode == 0, found.stderr
    location, names = found.stdout.splitlines()
    assert location.startswith(str(site))
    assert names.split() == [path.name for path in RULES]
