"""The invoking user can open the Docker socket: root, its owner, or a member of its group with rw bits.

"permission denied while trying to connect to the Docker daemon socket" is the other common "docker
does not work". The verdict is computed from the socket's owner, group and mode against the user's
groups in `etc/group` (so it also works under `--root` and for the user behind `sudo`); on the live
system, a user who is in the group but whose login session predates it is told to log in again.
"""

from __future__ import annotations

import os
import stat
from pathlib import PurePosixPath

from cityscale.doctor.accounts import Account, account, group_names, invoking_user
from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn

SOCKET = "/var/run/docker.sock"
_READ_WRITE = {"owner": stat.S_IRUSR | stat.S_IWUSR, "group": stat.S_IRGRP | stat.S_IWGRP, "other": 0o006}


@check("host.docker-socket", Layer.HOST, "this user can reach the Docker socket", rank=40)
def docker_socket(ctx: Context) -> Outcome:
    where = socket_path(ctx)
    local = ctx.path(where)
    try:
        info = local.stat()
    except OSError:
        return skip(f"no Docker socket at {where} (Docker Engine is not installed or not running)")
    if not stat.S_ISSOCK(info.st_mode):
        return fail(f"{where} is not a socket", remediation="sudo systemctl restart docker.socket docker.service")
    name = invoking_user(ctx.environ)
    user = account(ctx.root, name)
    if user is None:
        return skip(f"user {name!r} is not in {ctx.display(ctx.path('/etc/passwd'))}: cannot tell its groups")
    groups = group_names(ctx.root)
    group = groups.get(info.st_gid, str(info.st_gid))
    seen = (
        f"{where}: owner uid {info.st_uid}, group {group} (gid {info.st_gid}), mode {stat.filemode(info.st_mode)}",
        f"user {user.name} (uid {user.uid}), groups: {', '.join(groups.get(g, str(g)) for g in sorted(user.groups))}",
    )
    return _judge(ctx, user, info=info, group=group, where=where, seen=seen)


def _judge(
    ctx: Context, user: Account, *, info: os.stat_result, group: str, where: str, seen: tuple[str, ...]
) -> Outcome:
    """The kernel's rule: root passes; else the first of owner, group, other bits that applies."""
    if user.uid == 0:
        return ok(f"{user.name} is root: the socket's mode does not apply", *seen)
    via = _access_class(user, info.st_uid, info.st_gid)
    if info.st_mode & _READ_WRITE[via] != _READ_WRITE[via]:
        return fail(
            f"{user.name} cannot open {where}: docker commands fail with 'permission denied'",
            *seen,
            remediation=_remedy(user, info, group, via, where),
        )
    stale = _session_lacks_group(ctx, user, info.st_gid, via)
    if stale:
        return warn(
            f"{user.name} is in group {group}, but this login session is not yet",
            *seen,
            stale,
            remediation=f"log out and in again (or: newgrp {group})",
        )
    return ok(f"{user.name} can read and write {where} (as its {via})", *seen)


def socket_path(ctx: Context) -> str:
    """`DOCKER_HOST=unix://PATH` when set (the client dials that), else the default socket."""
    host = ctx.environ.get("DOCKER_HOST", "")
    return str(PurePosixPath(host.removeprefix("unix://"))) if host.startswith("unix:///") else SOCKET


def _access_class(user: Account, owner: int, gid: int) -> str:
    """Which permission bits the kernel applies: the first of owner, group, other that matches."""
    if user.uid == owner:
        return "owner"
    return "group" if gid in user.groups else "other"


def _session_lacks_group(ctx: Context, user: Account, gid: int, via: str) -> str | None:
    """On the live system, when this process is the user: a group added after login is not in effect yet."""
    if not ctx.live or via != "group" or os.getuid() != user.uid or gid in os.getgroups() or gid == os.getgid():
        return None
    return f"this process (uid {os.getuid()}) runs without gid {gid}: groups are read at login"


def _remedy(user: Account, info: os.stat_result, group: str, via: str, where: str) -> str:
    lines, mode = [], info.st_mode
    if info.st_gid == 0:  # never hand out the root group: give the socket the docker group instead
        group = "docker"
        lines.append(
            f"sudo groupadd -f docker && sudo chgrp docker {where}   # dockerd uses group docker when it exists"
        )
    if via == "other":
        lines.append(f"sudo usermod -aG {group} {user.name}   # then log out and in again (or: newgrp {group})")
    if via != "owner" and (not mode & stat.S_IRGRP or not mode & stat.S_IWGRP):
        lines.append(f"sudo chmod 660 {where}   # dockerd creates it 0660; check SocketMode= in docker.socket")
    return "\n".join(lines) or f"sudo chmod 660 {where}"
