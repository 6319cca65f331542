"""This user can reach the Docker socket (root, or a member of the socket's group)."""

from __future__ import annotations

import grp
import os
import stat

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip

SOCKET = "/var/run/docker.sock"


@check("host.docker-socket", Layer.HOST, "this user can reach the Docker socket", rank=40)
def docker_socket(ctx: Context) -> Outcome:
    if not ctx.live:
        return skip("socket permissions apply to the running system only (--root given)")
    path = ctx.path(SOCKET)
    try:
        info = path.stat()
    except OSError:
        return skip(f"no Docker socket at {SOCKET} (Docker Engine is not installed or not running)")
    if not stat.S_ISSOCK(info.st_mode):
        return fail(f"{SOCKET} is not a socket", remediation="systemctl restart docker.socket docker.service")
    if os.access(path, os.R_OK | os.W_OK):
        return ok(f"{SOCKET} is readable and writable by uid {os.getuid()}")
    group = _group_name(info.st_gid)
    return fail(
        f"uid {os.getuid()} cannot open {SOCKET} (owned by group {group}, mode {stat.filemode(info.st_mode)})",
        f"groups of this process: {', '.join(_group_name(g) for g in os.getgroups())}",
        remediation=f"sudo usermod -aG {group} $USER   # then log in again (or: newgrp {group})",
    )


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
