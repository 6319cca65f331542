"""Shared helpers for the deployment kit's tests: where its files are, how to load them, how to run
the validator tools installed in the project's virtualenv (the `lint` dependency group)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
K8S = REPO / "deploy" / "k8s"
K8S_OVERLAYS = sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))
HOST = REPO / "deploy" / "host"
YAMLLINT_CONFIG = Path(__file__).with_name("yamllint.yaml")
# Every shell script the kit ships (containers' entrypoints, host upkeep, the Grafana Cloud renderer).
SHELL_SCRIPTS = sorted(
    path
    for path in (REPO / "deploy").rglob("*.sh")
    if path.read_text().startswith(("#!/bin/sh", "#!/usr/bin/env bash"))
)


def under_ci() -> bool:
    """CI sets CI=true (GitHub Actions does, and .ci/run exports it): there nothing may be skipped."""
    return os.environ.get("CI", "").lower() == "true"


def tool(name: str) -> str:
    """The path of a validator: the virtualenv's own first (uv installs them there), else PATH.

    A missing validator skips the test on a developer's machine, with the reason, but FAILS it under
    CI: a skipped validator there would let an invalid file land while the run stays green."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed here (uv sync installs the lint group; Debian packages the rest)"
        if under_ci():
            pytest.fail(f"{reason}; CI=true, so a missing validator is a failure, not a skip")
        pytest.skip(reason)
    return found


def run(argv: list[str], *, stdin: str | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run a validator; fail the test with its own output when it rejects the input."""
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all_yaml(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


def kustomize(overlay: Path) -> list[dict[str, Any]]:
    return load_all_yaml(run([tool("kubectl"), "kustomize", str(overlay)]).stdout)
