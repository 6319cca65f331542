"""`GET /metrics`: the Prometheus text format, for Prometheus only (nginx does not proxy it publicly)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityscale.observability.multiprocess import MULTIPROC_ENV


def metrics_route(*collectors: Collector) -> Route:
    """The route, exporting the process-wide families plus `collectors` (this app's scrape-time state).

    With several worker processes (`PROMETHEUS_MULTIPROC_DIR` set by `cityscale serve --workers N`),
    the hot-path families are summed over every worker's files; the scrape-time state of one worker
    would misrepresent the others, so it is left out there (see docs/observability.md).
    """
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))  # the module-level families plus process_* and python_*
        for collector in collectors:
            registry.register(collector)

    async def metrics(_request: Request) -> Response:
        return Response(
            generate_latest(registry), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
        )

    return Route("/metrics", metrics, methods=["GET"], name="metrics", include_in_schema=False)


class _Forward(Collector):
    """Exposes another registry's metrics through this one, without registering our state globally.

    Each app gets its own state collector (tests build several apps in one process); the families in
    `metrics.py` are process-wide, as prometheus_client intends.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()
