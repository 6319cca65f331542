"""The host upkeep prunes build cache and unused images with age filters, never volumes.

No Docker engine runs here, so `docker` is a stand-in on PATH that records its arguments: what is
tested is the commands the script issues, in order, with the filters the environment sets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.kit import HOST, tool, under_ci

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


# --- the units and the cron line, checked as installed -------------------------------------------

UNIT_DIRS = [Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")]


def installed_root(tmp_path: Path) -> Path:
    """A root tree laid out as docs/deploy.md installs the upkeep: the units in /etc/systemd/system,
    the script at the units' ExecStart path, the distribution's units (targets) beside them, and a
    stand-in docker.service (no Docker engine here) for Requires=/After=."""
    root = tmp_path / "root"
    system_units = next((d for d in UNIT_DIRS if (d / "sysinit.target").exists()), None)
    if system_units is None:
        reason = "no systemd unit directory with sysinit.target on this machine (Debian: apt-get install systemd)"
        if under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    shutil.copytree(system_units, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    (root / "usr" / "lib" / "systemd" / "system" / "docker.service").write_text(
        "[Unit]\nDescription=stand-in for the Docker engine\n[Service]\nExecStart=/bin/true\n"
    )
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for name in ("docker-prune.service", "docker-prune.timer"):
        shutil.copy(HOST / name, units / name)
    script = root / "usr" / "local" / "sbin" / "cityscale-docker-prune"
    script.parent.mkdir(parents=True)
    shutil.copy(SCRIPT, script)
    script.chmod(0o755)
    return root


def systemd_verify(root: Path) -> str:
    """systemd-analyze's complaints; it exits 0 on some of them (an unknown key is "ignored")."""
    result = subprocess.run(
        [tool("systemd-analyze"), "verify", f"--root={root}", "docker-prune.timer", "docker-prune.service"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return (result.stdout + result.stderr).strip() or ("" if result.returncode == 0 else f"exit {result.returncode}")


def test_units_pass_systemd_analyze_verify_as_installed(tmp_path: Path) -> None:
    assert systemd_verify(installed_root(tmp_path)) == ""


def test_systemd_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    root = installed_root(tmp_path)
    timer = root / "etc" / "systemd" / "system" / "docker-prune.timer"
    timer.write_text(timer.read_text().replace("OnCalendar=", "OnCalender="))
    service = root / "etc" / "systemd" / "system" / "docker-prune.service"
    service.write_text(service.read_text().replace("Type=oneshot", "Type=oneshoot"))
    complaints = systemd_verify(root)
    assert "OnCalender" in complaints
    assert "oneshoot" in complaints


CRON_FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)]
CRON_ITEM = re.compile(r"^(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def cron_errors(text: str) -> list[str]:
    """Problems of an /etc/cron.d file (crontab(5)): five time fields, a user, a command per job."""
    errors: list[str] = []
    if not text.endswith("\n"):
        errors.append("the last line has no newline (cron ignores it)")
    jobs = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", line):
            continue  # an environment line
        fields = line.split(None, 6)
        if len(fields) < 7:
            errors.append(f"line {number}: expected 5 time fields, a user and a command")
            continue
        jobs += 1
        for value, (name, low, high) in zip(fields[:5], CRON_FIELDS, strict=True):
            for item in value.split(","):
                match = CRON_ITEM.match(item)
                numbers = [int(n) for n in (match.groups()[1:3] if match else ()) if n is not None]
                step = match.group(4) if match else None
                if not match or any(not low <= n <= high for n in numbers) or step == "0":
                    errors.append(f"line {number}: bad {name} {item!r}")
                elif len(numbers) == 2 and numbers[0] > numbers[1]:
                    errors.append(f"line {number}: bad {name} range {item!r}")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]*", fields[5]):
            errors.append(f"line {number}: bad user {fields[5]!r}")
    if jobs == 0:
        errors.append("no job")
    return errors


def test_cron_alternative_is_valid_cron_d_syntax() -> None:
    text = (HOST / "docker-prune.cron").read_text()
    assert cron_errors(text) == []
    # The same program as the systemd service, as root.
    (job,) = [line for line in text.splitlines() if line[:1].isdigit() or line.startswith("*")]
    user, command = job.split(None, 6)[5:]
    assert user == "root"
    assert command.split()[0] == "/usr/local/sbin/cityscale-docker-prune"


@pytest.mark.parametrize(
    "line",
    [
        "61 4 * * * root /bin/true\n",  # minute out of range
        "17 4 * * root /bin/true\n",  # a field missing: the user taken for a day of week
        "17 4 * 13 * root /bin/true\n",
        "17 4 * * * /bin/true\n",  # no user (a user crontab's syntax in /etc/cron.d)
        "17 4 * * * root /bin/true",  # no final newline
        "*/0 4 * * * root /bin/true\n",
    ],
)
def test_cron_checker_rejects_broken_lines(line: str) -> None:
    assert cron_errors(line) != []
