"""RED instrumentation (rate, errors, duration) as pure ASGI middleware: the cheapest place on the hot path.

The route template comes from `scope["route"]`, which Starlette's router sets on the shared scope
when it matches, so nothing is matched twice. Unmatched paths are counted under one `unmatched`
label, and unusual methods under `other`, so a scanner cannot grow the label set. What is recorded
where is `red.py`'s business.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityscale.observability.red import RedRecorder

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
    """Records every HTTP request's duration by route template, method and status class."""

    def __init__(self, app: ASGIApp, *, recorder: RedRecorder) -> None:
        self.app = app
        self.recorder = recorder

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

        self.recorder.started()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            method = scope["method"]
            key = (route_template(scope), method if method in KNOWN_METHODS else "other", status_class(status))
            self.recorder.finished(key, time.perf_counter() - started)
