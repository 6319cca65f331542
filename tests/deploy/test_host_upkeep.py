"""The host upkeep prunes build cache and unused images with age filters, never volumes.

No Docker engine runs here, so `docker` is a stand-in on PATH that records its arguments: what is
tested is the commands the script issues, in order, with the filters the environment sets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.deploy.kit import HOST

SCRIPT = HOST / "docker-prune.sh"


def run_prune(tmp_path: Path, **env: str) -> list[list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    fake = bin_dir / "docker"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\n')
    fake.chmod(0o755)
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", **env}
    subprocess.run(["bash", str(SCRIPT)], env=environ, check=True, capture_output=True, timeout=30)
    return [line.split() for line in log.read_text().splitlines()]


def prunes(calls: list[list[str]]) -> list[list[str]]:
    return [call for call in calls if "prune" in call]


def test_default_run_prunes_old_build_cache_and_old_unused_images(tmp_path: Path) -> None:
    assert prunes(run_prune(tmp_path)) == [
        ["builder", "prune", "--force", "--filter", "until=168h"],
        ["builder", "prune", "--force", "--keep-storage", "10GB"],
        ["image", "prune", "--all", "--force", "--filter", "until=240h"],
    ]


def test_ages_and_cap_come_from_the_environment(tmp_path: Path) -> None:
    calls = prunes(
        run_prune(
            tmp_path,
            DOCKER_PRUNE_BUILD_CACHE_AGE="24h",
            DOCKER_PRUNE_IMAGE_AGE="72h",
            DOCKER_PRUNE_KEEP_STORAGE="2GB",
        )
    )
    assert ["builder", "prune", "--force", "--filter", "until=24h"] in calls
    assert ["builder", "prune", "--force", "--keep-storage", "2GB"] in calls
    assert ["image", "prune", "--all", "--force", "--filter", "until=72h"] in calls


def test_never_prunes_volumes_or_the_whole_system(tmp_path: Path) -> None:
    for call in run_prune(tmp_path):
        assert call[0] not in {"volume", "system"} or call == ["system", "df"], call
        assert "--volumes" not in call


def test_without_docker_it_does_nothing_and_succeeds(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        ["/bin/bash", str(SCRIPT)], env={"PATH": str(empty)}, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0
    assert "docker is not installed" in result.stderr


def test_timer_runs_the_service_that_runs_the_installed_script() -> None:
    service = (HOST / "docker-prune.service").read_text()
    timer = (HOST / "docker-prune.timer").read_text()
    cron = (HOST / "docker-prune.cron").read_text()
    assert "ExecStart=/usr/local/sbin/cityscale-docker-prune" in service
    assert "Type=oneshot" in service
    assert "OnCalendar=daily" in timer
    assert "Persistent=true" in timer
    assert " root /usr/local/sbin/cityscale-docker-prune " in cron
    assert os.access(SCRIPT, os.X_OK)
