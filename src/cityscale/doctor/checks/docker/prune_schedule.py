"""Scheduled Docker prunes (cron, systemd units) that delete too much: volumes, or every unused image.

From the incident's aftermath: an hourly `docker system prune -a` cron was added to keep the disk from
filling. `--volumes` deletes unused volumes (a stopped database's data); `-a` without an `until` filter
deletes every image not in use right now, so the next restart pulls or rebuilds everything. dockerd
already garbage-collects the build cache by itself (builder.gc, research/doctor.md B9).
"""

from __future__ import annotations

import re
from pathlib import Path

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, warn

CRON_FILES = ("/etc/crontab", "/etc/anacrontab")
CRON_DIRS = ("/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/var/spool/cron/crontabs")
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
_ALL = re.compile(r"(^|\s)(-[A-Za-z]*a[A-Za-z]*|--all)(\s|$)")  # -a, -af, --all
_PRUNE = re.compile(r"\bdocker\b[^\n#]*\bprune\b[^\n#]*")


@check("docker.prune-schedule", Layer.DOCKER, "scheduled prunes keep volumes and recent images", rank=41)
def prune_schedule(ctx: Context) -> Outcome:
    dangerous, risky, seen = [], [], []
    for path in _candidates(ctx):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, start=1):
            if line.lstrip().startswith("#"):
                continue
            match = _PRUNE.search(line)
            if match is None:
                continue
            command = match.group(0).strip()
            where = f"{ctx.display(path)}:{number}: {command}"
            seen.append(where)
            if "--volumes" in command:
                dangerous.append(where)
            elif _ALL.search(command) and "until=" not in command:
                risky.append(where)
    if dangerous:
        return fail(
            "a scheduled prune deletes unused volumes: a stopped database container loses its data",
            *dangerous,
            *risky,
            remediation="remove --volumes from the scheduled command; keep at most: "
            "docker builder prune --filter until=24h (dockerd already garbage-collects the build cache)",
        )
    if risky:
        return warn(
            "a scheduled prune deletes every image not running right now: restarts pull or rebuild everything",
            *risky,
            remediation="add an age filter, e.g. docker image prune -a --filter until=168h; "
            "or prune only the build cache",
        )
    return ok(f"{len(seen)} scheduled prune(s), none deletes volumes or every image", *seen)


def _candidates(ctx: Context) -> list[Path]:
    paths = [ctx.path(p) for p in CRON_FILES]
    for directory in CRON_DIRS:
        paths.extend(sorted(p for p in ctx.path(directory).glob("*") if not p.name.startswith(".")))
    for directory in UNIT_DIRS:
        paths.extend(sorted(ctx.path(directory).glob("*.service")))
    return paths
