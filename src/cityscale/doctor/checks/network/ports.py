"""Ports the stack needs, already taken by another process (incident fault 4: nginx held port 3000).

Ports: the API's 3000, nginx's 8080 and 80, PostgreSQL's 5432, Redis's 6379 (or `--port` instead),
plus every host port the compose file publishes. A port held by the program meant to hold it
(postgres on 5432; docker-proxy or the service's own program on a published port) is fine; anything
else is named with pid, program and user, or, when this user cannot see the owner, still reported as
taken (fail), with the owner's uid from /proc/net/tcp and the root command that names it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cityscale.doctor.context import Context
from cityscale.doctor.listen_owner import listening_uid, user_label
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok
from cityscale.stack.ports import PortHolder, port_holder

API_PROGRAMS = frozenset({"cityscale", "granian", "python", "python3"})
ROLE_PROGRAMS = {
    3000: API_PROGRAMS,
    8080: frozenset({"nginx"}),
    80: frozenset({"nginx"}),
    5432: frozenset({"postgres"}),
    6379: frozenset({"redis-server"}),
}
PUBLISHED_HOLDERS = frozenset({"docker-proxy", "rootlessport"})  # how Docker holds a published port


@dataclass(frozen=True)
class NeededPort:
    port: int
    expected: frozenset[str]
    why: str


@check("network.ports", Layer.NETWORK, "ports the stack needs are free or held by the stack")
def ports(ctx: Context) -> Outcome:
    taken: list[tuple[NeededPort, PortHolder]] = []
    hidden: list[NeededPort] = []
    fine: list[str] = []
    needed = needed_ports(ctx)
    for need in needed:
        holder = port_holder(need.port)
        if holder is None:
            fine.append(f"{need.port} ({need.why}): free")
        elif holder.pid is None:
            hidden.append(need)
        elif holder.program in need.expected:
            fine.append(f"{need.port} ({need.why}): held by {holder.program} (pid {holder.pid}), as expected")
        else:
            taken.append((need, holder))
    if not taken and not hidden:
        return ok(f"{len(needed)} needed port(s) are free or held by the stack", *fine)
    return fail(
        f"{len(taken) + len(hidden)} needed port(s) held by another program: the stack cannot bind them",
        *(f"{holder.describe()}; needed for {need.why}" for need, holder in taken),
        *(_hidden_evidence(need) for need in hidden),
        remediation="\n".join(
            [
                *(
                    f"ss -ltnp 'sport = :{need.port}'   # then stop it (systemctl stop {holder.program}, or kill "
                    f"{holder.pid}) or move the stack off port {need.port}"
                    for need, holder in taken
                ),
                *(
                    f"sudo ss -ltnp 'sport = :{need.port}'   # names the hidden owner (pid, program); then stop it "
                    f"or move the stack off port {need.port}"
                    for need in hidden
                ),
                "(the doctor never kills a process: the holder may be serving something else)",
            ]
        ),
    )


def _hidden_evidence(need: NeededPort) -> str:
    """As non-root the holder's pid and program are hidden; the kernel's socket table still gives its uid."""
    uid = listening_uid(need.port)
    owner = "a process" if uid is None else f"a process of {user_label(uid)}"
    return (
        f"port {need.port} is taken by {owner} whose pid and program are hidden from uid {os.getuid()} "
        f"(only root sees other users' sockets); needed for {need.why}"
    )


def needed_ports(ctx: Context) -> list[NeededPort]:
    needed = {}
    for port in ctx.stack_ports:
        expected = ROLE_PROGRAMS.get(port, frozenset()) if ctx.ports is None else frozenset()
        needed[port] = NeededPort(port, expected | PUBLISHED_HOLDERS, "the stack")
    if ctx.compose is not None:
        for published in ctx.compose.published_ports():
            if published.host_port is None:
                continue
            role = ROLE_PROGRAMS.get(published.container_port or 0, frozenset())
            why = f"{ctx.display(ctx.compose.path)} service {published.service!r} publishes {published.raw!r}"
            needed[published.host_port] = NeededPort(published.host_port, role | PUBLISHED_HOLDERS, why)
    return list(needed.values())
