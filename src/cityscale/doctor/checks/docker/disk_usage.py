"""Docker's build cache against free disk space (incident fault 9: the disk filled by build cache).

Measured from the files under `/var/lib/docker/buildkit` (apparent sizes, as `docker system df` reports
logical sizes), so it works on a stopped daemon and on a mounted disk; bounded in files and time.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from cityscale.doctor.checks.docker.daemon_config import daemon_json_files
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


@check("docker.disk-usage", Layer.DOCKER, "the disk is not filled by Docker's build cache", timeout=15, rank=40)
def disk_usage(ctx: Context) -> Outcome:
    data_root = _data_root(ctx)
    root = ctx.path(data_root)
    if not is_dir(root):
        return skip(f"no {data_root} (Docker Engine has never run here)")
    sizes = _tree_sizes(root, BUILD_CACHE_DIRS)
    cache_bytes = sizes.cache
    usage = shutil.disk_usage(root)
    free_fraction = usage.free / usage.total
    cut = "" if sizes.complete else " (at least: the walk stopped at its file or time limit)"
    evidence = [
        f"build cache under {data_root}/buildkit: {cache_bytes / GIB:.1f} GiB{cut}",
        f"everything under {data_root} (images, containers, volumes, cache): {sizes.total / GIB:.1f} GiB{cut}",
        f"filesystem of {data_root}: {usage.free / GIB:.1f} GiB free "
        f"of {usage.total / GIB:.1f} GiB ({free_fraction:.0%})",
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
            "less than 10 % of the disk is free", *evidence, remediation="docker system df -v   # what uses the space"
        )
    return ok("enough free disk for the build cache", *evidence)


def _data_root(ctx: Context) -> str:
    """`data-root` from /etc/docker/daemon.json when set there, else dockerd's default."""
    for f in daemon_json_files(ctx):
        value = (f.data or {}).get("data-root")
        if isinstance(value, str) and value.startswith("/"):
            return value.rstrip("/") or "/"
    return DATA_ROOT


@dataclass(frozen=True)
class _Sizes:
    total: int
    cache: int
    complete: bool


def _tree_sizes(root: Path, cache_dirs: tuple[str, ...]) -> _Sizes:
    """Apparent sizes under `root` and under its `cache_dirs`, bounded in files and time."""
    total = cache = files = 0
    deadline = time.monotonic() + MAX_SECONDS
    cache_tops = tuple(str(root / d) for d in cache_dirs)
    for directory, _dirs, names in os.walk(root):
        in_cache = directory.startswith(cache_tops)
        for name in names:
            try:
                size = os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
            total += size
            if in_cache:
                cache += size
            files += 1
            if files >= MAX_FILES or time.monotonic() > deadline:
                return _Sizes(total, cache, complete=False)
    return _Sizes(total, cache, complete=True)
