"""dockerd is running; when it is not, the reason from its journal (what the incident's person dug out by hand)."""

from __future__ import annotations

import shutil

import psutil

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip

JOURNAL_LINES = 200
# dockerd's start-up failures worth quoting (moby daemon/config/config.go, cmd/dockerd/daemon.go)
REASON_MARKERS = (
    "unable to configure the Docker daemon",
    "don't match any configuration option",
    "specified both as a flag and in the configuration file",
    "Start request repeated too quickly",
    "failed to start daemon",
    "no space left on device",
)


@check("docker.daemon-running", Layer.DOCKER, "dockerd is running", rank=20)
def daemon_running(ctx: Context) -> Outcome:
    if not ctx.live:
        return skip("process checks apply to the running system only (--root given)")
    if shutil.which("dockerd") is None:
        return skip("Docker Engine (dockerd) is not installed on this machine")
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "dockerd":
            return ok(f"dockerd is running (pid {proc.pid})")
    reasons = journal_reasons(ctx)
    return fail(
        "dockerd is installed but not running",
        *(reasons or ["no reason found in the journal (journalctl absent or no docker.service entries)"]),
        remediation="journalctl -u docker.service -b --no-pager | tail -50   # then fix the cause and: "
        "systemctl restart docker",
    )


def journal_reasons(ctx: Context) -> list[str]:
    """The last start-up errors of docker.service from the journal; empty when journalctl is absent."""
    result = ctx.run(["journalctl", "-u", "docker.service", "-b", "-o", "cat", "-n", str(JOURNAL_LINES), "--no-pager"])
    if result is None or result.returncode != 0:
        return []
    found = [line.strip() for line in result.stdout.splitlines() if any(m in line for m in REASON_MARKERS)]
    return [f"journal: {line}" for line in found[-3:]]
