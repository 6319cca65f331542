"""`/healthz` (liveness: the process answers) and `/readyz` (readiness: can it serve, and how well)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityscale.cache.redis_store import RedisUnavailableError

if TYPE_CHECKING:
    from cityscale.api.app import Services

_HEALTHY = orjson.dumps({"status": "ok"})
_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(_request: Request) -> Response:
    # Liveness checks no dependency: a database outage must not make an orchestrator restart every instance.
    return Response(_HEALTHY, media_type="application/json", headers=_NO_STORE)


def routes(services: Services) -> list[Route]:
    async def redis_check() -> dict[str, object] | None:
        store = services.cache.redis
        if store is None:
            return None
        ok = False
        with contextlib.suppress(RedisUnavailableError, TimeoutError):
            async with asyncio.timeout(0.2):
                ok = await store.ping()
        return {"ok": ok, "detail": "ok" if ok else f"unreachable (breaker {store.breaker.state.value})"}

    async def readyz(_request: Request) -> Response:
        """200 while reads can be served (from the primary or any usable replica); 503 otherwise."""
        probes = services.database.probes()
        checks: dict[str, object] = {probe.name: probe.as_dict() for probe in probes}
        redis = await redis_check()
        if redis is not None:
            checks["redis"] = redis
        can_read = any(probe.ok for probe in probes)
        everything_ok = all(probe.ok for probe in probes) and (redis is None or bool(redis["ok"]))
        status = "ready" if everything_ok else ("degraded" if can_read else "unavailable")
        body = orjson.dumps({"status": status, "writable": probes[0].ok, "checks": checks})
        return Response(body, status_code=200 if can_read else 503, media_type="application/json", headers=_NO_STORE)

    return [
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/readyz", readyz, methods=["GET"], name="readyz"),
    ]
