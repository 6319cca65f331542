"""RED instrumentation (rate, errors, duration) as pure ASGI middleware: the cheapest place on the hot path.

The route template comes from `scope["route"]`, which Starlette's router sets on the shared scope
when it matches, so nothing is matched twice. Unmatched paths are counted under one `unmatched`
label, and unusual methods under `other`, so a scanner cannot grow the label set. Label children
are cached per (route, method, status class): after warm-up a request costs one dict lookup, one
histogram observation and a gauge inc/dec.
"""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityscale.observability.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS_IN_FLIGHT

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
# Status 0: the response never started (the client went away first).
_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


def status_class(status: int) -> str:
    return _STATUS_CLASSES.get(status // 100, "aborted")


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Observes every HTTP request's duration by route template, method and status class."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_REQUESTS_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            status = status or 500  # only reached if an inner layer re-raised after answering
            raise
        finally:
            HTTP_REQUESTS_IN_FLIGHT.dec()
            self._child(route_template(scope), scope["method"], status).observe(time.perf_counter() - started)

    def _child(self, route: str, method: str, status: int) -> Histogram:
        # The key uses the normalised method too, so odd methods cannot grow this dict either.
        key = (route, method if method in KNOWN_METHODS else "other", status_class(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = HTTP_REQUEST_DURATION.labels(*key)
        return child
