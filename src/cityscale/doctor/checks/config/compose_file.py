"""The compose file: parses, port mappings quoted, every service with a healthcheck.

Unquoted `HOST:CONTAINER` ports are read as base-60 numbers by YAML 1.1 tools (`22:22` is 1342); Compose
itself uses YAML 1.2, so it is a style warning. Without healthchecks, `depends_on` cannot wait for
the database to be ready, and the API starts against a database that is not there yet.
"""

from __future__ import annotations

from cityscale.doctor.compose import ComposeFile
from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn


@check("config.compose-ports", Layer.CONFIG, "compose port mappings are quoted strings")
def compose_ports(ctx: Context) -> Outcome:
    compose = ctx.compose
    if compose is None:
        return skip(f"no compose file in {ctx.display(ctx.project_dir)}")
    shown = ctx.display(compose.path)
    if compose.error:
        return fail(
            f"{shown} does not parse",
            compose.error,
            remediation=f"docker compose -f {shown} config -q   # shows the error",
        )
    unquoted = [p for p in compose.published_ports() if not p.quoted and ":" in p.raw]
    if unquoted:
        return warn(
            f"{len(unquoted)} port mapping(s) unquoted: YAML 1.1 tools read `xx:yy` with yy < 60 as a base-60 number",
            *(f"{shown}:{p.line}: service {p.service!r}: - {p.raw}" for p in unquoted),
            remediation="\n".join(f"sed -i '{p.line}s/- {p.raw}/- \"{p.raw}\"/' {shown}" for p in unquoted),
        )
    return ok(f"{shown}: every port mapping is a quoted string")


@check("config.compose-healthchecks", Layer.CONFIG, "compose services have healthchecks")
def compose_healthchecks(ctx: Context) -> Outcome:
    compose = ctx.compose
    if compose is None or compose.error:
        return skip("no parseable compose file")
    shown = ctx.display(compose.path)
    waited_on_healthy = _services_waited_on_as_healthy(compose)
    missing, disabled = [], []
    for name in compose.services:
        spec = compose.service(str(name))
        health = spec.get("healthcheck")
        if isinstance(health, dict) and health.get("disable") is True:
            disabled.append(str(name))
        elif not isinstance(health, dict):
            missing.append(str(name))
    # Disabling a healthcheck is an explicit choice (a one-shot job, an image without a shell), fine
    # unless another service waits for that one to be healthy: then it can never start.
    blocked = [name for name in disabled if name in waited_on_healthy]
    if blocked:
        return fail(
            f"{len(blocked)} service(s) with a disabled healthcheck that others wait on as healthy",
            *(f"{shown}: service {name!r}: healthcheck disabled, but depends_on waits for service_healthy"
              for name in blocked),
            remediation="give each a healthcheck, or make its dependents wait with condition: "
            "service_started / service_completed_successfully",
        )  # fmt: skip
    if missing:
        return warn(
            f"{len(missing)} service(s) without a healthcheck: depends_on cannot wait for them to be ready",
            *(f"{shown}: service {name!r} has no healthcheck" for name in missing),
            remediation="add a healthcheck to each (db: pg_isready -U postgres; redis: redis-cli ping; "
            "api: curl -fsS localhost:3000/readyz) and depends_on: {db: {condition: service_healthy}}",
        )
    if disabled:
        return ok(f"every service in {shown} has a healthcheck or disables it on purpose ({', '.join(disabled)})")
    return ok(f"every service in {shown} has a healthcheck")


def _services_waited_on_as_healthy(compose: ComposeFile) -> set[str]:
    waited: set[str] = set()
    for name in compose.services:
        depends = compose.service(str(name)).get("depends_on")
        if isinstance(depends, dict):
            waited |= {
                str(target) for target, spec in depends.items()
                if isinstance(spec, dict) and spec.get("condition") == "service_healthy"
            }  # fmt: skip
    return waited
