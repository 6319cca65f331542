"""`/healthz` (liveness: the process answers) and `/readyz` (readiness: it can serve)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from cityscale.api.app import Services

_HEALTHY = orjson.dumps({"status": "ok"})
_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(_request: Request) -> Response:
    # Liveness checks no dependency: a database outage must not make an orchestrator restart every instance.
    return Response(_HEALTHY, media_type="application/json", headers=_NO_STORE)


def routes(services: Services) -> list[Route]:
    async def readyz(_request: Request) -> Response:
        probes = await services.database.probe()
        ready = all(probe.ok for probe in probes if probe.name == "primary")
        body = {
            "status": "ready" if ready else "unavailable",
            "checks": {probe.name: probe.as_dict() for probe in probes},
        }
        return Response(
            orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json", headers=_NO_STORE
        )

    return [
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/readyz", readyz, methods=["GET"], name="readyz"),
    ]
