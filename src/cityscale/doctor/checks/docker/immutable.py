"""Immutable or append-only attributes on Docker's configuration files (incident fault 3).

An immutable file cannot be opened for writing even by root (EPERM), so every edit "fails for no
reason"; an immutable directory blocks the create-and-rename that editors and tools use.
"""

from __future__ import annotations

from cityscale.doctor.context import Context
from cityscale.doctor.fileattrs import AttributesUnknown, read_attributes
from cityscale.doctor.paths import exists
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok

SYSTEM_PATHS = (
    "/etc/docker",
    "/etc/docker/daemon.json",
    "/etc/default/docker",
    "/etc/sysconfig/docker",
    "/etc/systemd/system/docker.service.d",
)
USER_PATHS = (".docker", ".docker/config.json", ".config/docker", ".config/docker/daemon.json")


@check("docker.config-immutable", Layer.DOCKER, "Docker config files are writable (no immutable attribute)", rank=30)
def config_immutable(ctx: Context) -> Outcome:
    candidates = [ctx.path(p) for p in SYSTEM_PATHS] + [ctx.path(u.home / p) for u in ctx.users for p in USER_PATHS]
    drop_ins = ctx.path("/etc/systemd/system/docker.service.d")
    candidates += sorted(drop_ins.glob("*.conf"))
    locked, unknown, checked = [], [], 0
    for path in dict.fromkeys(candidates):
        if not exists(path):
            continue
        checked += 1
        try:
            attributes = read_attributes(path)
        except AttributesUnknown as exc:
            unknown.append(f"{ctx.display(path)}: attributes unknown ({exc})")
            continue
        if attributes.flags:
            names = " and ".join(sorted(attributes.flags))
            locked.append((ctx.display(path), f"{ctx.display(path)}: {names} (read with {attributes.method})"))
    if locked:
        return fail(
            f"{len(locked)} Docker config path(s) are locked: writes fail with 'Operation not permitted', even as root",
            *(line for _, line in locked),
            *unknown,
            remediation="\n".join(f"sudo chattr -i -a {path}" for path, _ in locked)
            + "\n(the doctor never runs chattr itself; find who set it first: it may be deliberate)",
        )
    return ok(f"no immutable or append-only attribute on {checked} Docker config path(s)", *unknown)
