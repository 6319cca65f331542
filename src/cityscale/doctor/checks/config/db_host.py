"""`DB_HOST=localhost` where localhost is the wrong machine (incident fault 7).

Inside a container, localhost is the container itself: the database in the next container is refused
(`ECONNREFUSED 127.0.0.1:5432`). The same holds when the compose file runs the database as a service
and the api service (not on `network_mode: host`) points at localhost.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})  # noqa: S104 - names to look for


@check("config.db-host", Layer.CONFIG, "database and cache hosts are reachable from where the API runs", rank=10)
def db_host(ctx: Context) -> Outcome:
    env = ctx.service_env
    local = []
    for name in ("DB_HOST", "DATABASE_URL", "DB_REPLICA_URLS", "REDIS_URL"):
        value = env.get(name)
        if not value:
            continue
        hosts = [value] if name == "DB_HOST" else [urlsplit(part.strip()).hostname or "" for part in value.split(",")]
        if any(h in LOCAL_HOSTS for h in hosts):
            local.append(
                f"{name} points at {', '.join(h for h in hosts if h in LOCAL_HOSTS)} (from {env.source(name)})"
            )
    if not local:
        return ok("no database or cache host is localhost")
    marker = ctx.container_marker()
    compose = ctx.compose
    db_services = compose.database_services() if compose else []
    host_network = bool(
        compose and compose.api_service and compose.service(compose.api_service).get("network_mode") == "host"
    )
    reasons = []
    if marker:
        reasons.append(f"this system is a container ({marker} exists): localhost is the container itself")
    if db_services and not host_network:
        shown = ctx.display(compose.path) if compose else ""
        reasons.append(
            f"{shown} runs the database as service {db_services[0]!r}: from the api container it is reached by "
            f"that name"
        )
    if not reasons:
        return ok("localhost is right here: not in a container, and the compose file runs no database service", *local)
    target = db_services[0] if db_services else "<database host>"
    return fail(
        "the API would connect to itself, not to the database (connection refused on 127.0.0.1)",
        *local,
        *reasons,
        remediation=f"set DB_HOST={target} (and service names in DATABASE_URL/REDIS_URL) in the api service's "
        f"environment",
    )
