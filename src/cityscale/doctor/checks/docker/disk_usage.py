"""Docker's build cache against free disk space (incident fault 9: the disk filled by build cache).

Measured from the files under `/var/lib/docker/buildkit` (apparent sizes, as `docker system df` reports
logical sizes), so it works on a stopped daemon and on a mounted disk; bounded in files and time.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from cityscale.doctor.context import Context
from cityscale.doctor.paths import is_dir
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn

DATA_ROOT = "/var/lib/docker"
BUILD_CACHE_DIRS = ("buildkit",)
LOW_FREE_FRACTION = 0.10  # below 10 % free, writes (and dockerd itself) start failing soon
MAX_FILES = 200_000
MAX_SECONDS = 5.0
GIB = 1024**3


@check("docker.disk-usage", Layer.DOCKER, "the disk is not filled by Docker's build cache", timeout=15)
def disk_usage(ctx: Context) -> Outcome:
    root = ctx.path(DATA_ROOT)
    if not is_dir(root):
        return skip(f"no {DATA_ROOT} (Docker Engine has never run here)")
    cache_bytes, complete = _tree_size([root / d for d in BUILD_CACHE_DIRS])
    usage = shutil.disk_usage(root)
    free_fraction = usage.free / usage.total
    evidence = [
        f"build cache under {DATA_ROOT}/buildkit: {cache_bytes / GIB:.1f} GiB"
        + ("" if complete else " (at least; walk cut short)"),
        f"filesystem of {DATA_ROOT}: {usage.free / GIB:.1f} GiB free of {usage.total / GIB:.1f} GiB "
        f"({free_fraction:.0%})",
    ]
    remediation = (
        "docker builder prune --filter until=24h   "
        '# or cap it in daemon.json: "builder": {"gc": {"defaultKeepStorage": "20GB"}}'
    )
    if cache_bytes > usage.free or (free_fraction < LOW_FREE_FRACTION and cache_bytes > usage.free / 2):
        return fail(
            "the build cache is larger than the free space left: the disk fills and builds and writes fail",
            *evidence,
            remediation=remediation,
        )
    if free_fraction < LOW_FREE_FRACTION:
        return warn(
            "less than 10 % of the disk is free",
            *evidence,
            remediation="docker system df -v   # see what uses the space",
        )
    return ok("enough free disk for the build cache", *evidence)


def _tree_size(tops: list[Path]) -> tuple[int, bool]:
    total, files = 0, 0
    deadline = time.monotonic() + MAX_SECONDS
    for top in tops:
        for directory, _dirs, names in os.walk(top):
            for name in names:
                try:
                    total += os.lstat(os.path.join(directory, name)).st_size
                except OSError:
                    continue
                files += 1
                if files >= MAX_FILES or time.monotonic() > deadline:
                    return total, False
    return total, True
