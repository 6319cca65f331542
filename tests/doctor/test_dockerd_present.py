"""docker.dockerd-validate and docker.daemon-running where dockerd is installed.

Docker Engine cannot run on this machine, so `dockerd` and `journalctl` are stand-ins on PATH that
answer exactly as the real programs do (messages and exit codes from research/doctor.md B2:
`dockerd --validate` prints `configuration OK` on stderr and exits 0, or the error and exits 1).
Everything else (the checks, their parsing, the runner) is the real code.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from cityscale.doctor.checks.docker.daemon_running import daemon_running
from cityscale.doctor.context import Context
from cityscale.doctor.report import Status
from tests.doctor.worlds import World

FAKE_DOCKERD = textwrap.dedent(
    f"""\
    #!{sys.executable}
    import json, sys
    args = sys.argv[1:]
    if args == ["--version"]:
        print("Docker version 28.5.2, build 89c5e8f")
        sys.exit(0)
    assert args[:2] == ["--validate", "--config-file"], args
    with open(args[2], encoding="utf-8-sig") as handle:
        config = json.load(handle)
    unknown = [key for key in config if key == "userns-remap-to"]
    if unknown:
        print("unable to configure the Docker daemon with file " + args[2] + ": the following directives don't "
              "match any configuration option: " + ", ".join(unknown), file=sys.stderr)
        sys.exit(1)
    print("configuration OK", file=sys.stderr)
    """
)
JOURNAL = (
    "Starting docker.service - Docker Application Container Engine...\n"
    "unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives don't "
    "match any configuration option: userns-remap-to\n"
    "docker.service: Main process exited, code=exited, status=1/FAILURE\n"
    "docker.service: Start request repeated too quickly.\n"
)


def install(bin_dir: Path, name: str, text: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(text)
    (bin_dir / name).chmod(0o755)


@pytest.fixture
def dockerd_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    install(bin_dir, "dockerd", FAKE_DOCKERD)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return bin_dir


@pytest.mark.usefixtures("dockerd_on_path")
def test_dockerd_validate_accepts_a_clean_file(world: World) -> None:
    finding = world.check("docker.dockerd-validate")
    assert finding.status is Status.OK
    assert finding.outcome.evidence == ("/etc/docker/daemon.json: configuration OK",)


@pytest.mark.usefixtures("dockerd_on_path")
def test_dockerd_validate_is_the_authority_on_a_bad_key(world: World) -> None:
    world.write("/etc/docker/daemon.json", '{"userns-remap-to": "default"}')
    finding = world.check("docker.dockerd-validate")
    assert finding.status is Status.FAIL
    assert finding.outcome.summary == "dockerd --validate rejects /etc/docker/daemon.json"
    assert "don't match any configuration option: userns-remap-to" in finding.outcome.evidence[0]
    assert finding.outcome.remediation.endswith("dockerd --validate --config-file /etc/docker/daemon.json")


def test_daemon_not_running_quotes_the_journal(dockerd_on_path: Path) -> None:
    """Live system, dockerd installed, no dockerd process: the reason comes from `journalctl -u docker`."""
    install(dockerd_on_path, "journalctl", f"#!/bin/sh\ncat <<'EOF'\n{JOURNAL}EOF\n")
    outcome = daemon_running(Context(root=Path("/"), environ={"PATH": os.environ["PATH"]}))
    assert outcome.status is Status.FAIL
    assert outcome.summary == "dockerd is installed but not running"
    assert outcome.evidence == (
        "journal: unable to configure the Docker daemon with file /etc/docker/daemon.json: the following "
        "directives don't match any configuration option: userns-remap-to",
        "journal: docker.service: Start request repeated too quickly.",
    )
    assert outcome.remediation.startswith("journalctl -u docker.service -b --no-pager")


def test_daemon_not_running_without_a_journal_says_so(dockerd_on_path: Path) -> None:
    install(dockerd_on_path, "journalctl", "#!/bin/sh\necho 'No journal files were found.' >&2\nexit 1\n")
    outcome = daemon_running(Context(root=Path("/"), environ={"PATH": os.environ["PATH"]}))
    assert outcome.status is Status.FAIL
    assert outcome.evidence == ("no reason found in the journal (journalctl absent or no docker.service entries)",)
