"""Per-request id, the JSON access log, and the last line of defence against a 500 with a traceback.

Pure ASGI (no BaseHTTPMiddleware): it wraps `send` to see the status, which costs a few microseconds
rather than a task and a queue per request.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import IO

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityscale.api.access_log import AccessLogWriter
from cityscale.api.problems import problem_response

log = logging.getLogger("cityscale.api")

REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID_LENGTH = 128


def _acceptable_request_id(value: bytes) -> bool:
    # An id from the client is echoed in headers and logs: accept only short printable ASCII.
    return 0 < len(value) <= MAX_REQUEST_ID_LENGTH and all(33 <= b <= 126 for b in value)


def new_request_id() -> str:
    return os.urandom(12).hex()


@functools.lru_cache(maxsize=256)  # asked on every request, nearly always for the same few proxies
def _is_proxy(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


class RequestContextMiddleware:
    """Assigns `X-Request-ID`, writes one access-log line per request, turns crashes into a 500 problem."""

    def __init__(self, app: ASGIApp, *, stream: IO[bytes] | None = None) -> None:
        self.app = app
        # Lines go through a writer thread: a write(2) that blocks on a busy disk must not stall requests.
        self.log_writer = AccessLogWriter(stream if stream is not None else sys.stdout.buffer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            try:
                await self.app(scope, receive, send)
            finally:
                if scope["type"] == "lifespan":  # the app has shut down: no request will log any more
                    self.log_writer.close()
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(REQUEST_ID_HEADER)
        request_id = given.decode() if given is not None and _acceptable_request_id(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s (request %s)", scope["method"], scope["path"], request_id)
            if not response_started:
                response = problem_response(
                    500, "internal", "Internal error", f"an unexpected error occurred; quote request id {request_id}"
                )
                await response(scope, receive, send_with_id)
            else:
                status = status or 500
        finally:
            self._log(scope, headers, status or 499, started, request_id)

    def _log(self, scope: Scope, headers: dict[bytes, bytes], status: int, started: float, request_id: str) -> None:
        client = scope.get("client")
        client_ip = client[0] if client else ""
        real_ip = headers.get(b"x-real-ip")
        if real_ip and _is_proxy(client_ip):  # behind our nginx, the client is the one nginx saw
            client_ip = real_ip.decode("latin-1")
        query = scope.get("query_string", b"")
        url = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        line = orjson.dumps(
            {
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "method": scope["method"],
                "url": url,
                "clientIp": client_ip,
                "host": headers.get(b"host", b"").decode("latin-1"),
                "status": status,
                "durationMs": round((time.perf_counter() - started) * 1000, 3),
                "requestId": request_id,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        self.log_writer.write(line)
