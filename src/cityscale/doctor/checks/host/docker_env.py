"""`DOCKER_HOST` / `DOCKER_CONTEXT` (or the CLI's current context) pointing the client somewhere unexpected."""

from __future__ import annotations

import json

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, ok, warn

DEFAULT_HOSTS = frozenset({"unix:///var/run/docker.sock", "unix:///run/docker.sock"})


@check("host.docker-env", Layer.HOST, "docker client talks to the local engine", rank=30)
def docker_env(ctx: Context) -> Outcome:
    evidence = []
    host = ctx.environ.get("DOCKER_HOST")
    if host and host not in DEFAULT_HOSTS:
        evidence.append(f"DOCKER_HOST={host} (environment)")
    context = ctx.environ.get("DOCKER_CONTEXT")
    if context and context != "default":
        evidence.append(f"DOCKER_CONTEXT={context} (environment)")
    for user in ctx.users:
        text = ctx.read_text(user.home / ".docker/config.json")
        if not text:
            continue
        try:
            current = json.loads(text).get("currentContext")
        except (ValueError, AttributeError):
            continue
        if current and current != "default":
            evidence.append(f"{user.home}/.docker/config.json: currentContext={current}")
    if not evidence:
        return ok("the client uses the local engine's socket (no DOCKER_HOST, DOCKER_CONTEXT or other context)")
    return warn(
        "the docker client is pointed at another engine: commands will not reach this machine's dockerd",
        *evidence,
        remediation="unset DOCKER_HOST DOCKER_CONTEXT; docker context use default",
    )
