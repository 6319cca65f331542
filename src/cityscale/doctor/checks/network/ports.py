"""Ports the stack needs, already taken by another process (incident fault 4: nginx held port 3000).

Ports: the API's 3000, nginx's 8080 and 80, PostgreSQL's 5432, Redis's 6379 (or `--port` instead),
plus every host port the compose file publishes. A port held by the program meant to hold it
(postgres on 5432; docker-proxy or the service's own program on a published port) is fine; anything
else is named with pid, program and user, or, when this user cannot see the owner, reported as taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, warn
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
    hidden, fine = [], []
    needed = needed_ports(ctx)
    for need in needed:
        holder = port_holder(need.port)
        if holder is None:
            fine.append(f"{need.port} ({need.why}): free")
        elif holder.pid is None:
            hidden.append(f"{holder.describe()} ({need.why})")
        elif holder.program in need.expected:
            fine.append(f"{need.port} ({need.why}): held by {holder.program} (pid {holder.pid}), as expected")
        else:
            taken.append((need, holder))
    if taken:
        return fail(
            f"{len(taken)} needed port(s) held by another program: the stack cannot bind them",
            *(f"{holder.describe()}; needed for {need.why}" for need, holder in taken),
            *hidden,
            remediation="\n".join(
                f"ss -ltnp 'sport = :{need.port}'   # then stop it (systemctl stop {holder.program}, or kill "
                f"{holder.pid}) "
                f"or move the stack off port {need.port}"
                for need, holder in taken
            )
            + "\n(the doctor never kills a process: the holder may be serving something else)",
        )
    if hidden:
        return warn(
            "needed port(s) taken by a process this user cannot see",
            *hidden,
            remediation="sudo ss -ltnp   # as root the owner is visible; or: sudo cityscale doctor --only network",
        )
    return ok(f"{len(needed)} needed port(s) are free or held by the stack", *fine)


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
