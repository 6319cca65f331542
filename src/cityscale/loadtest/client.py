"""A keep-alive HTTP/1.1 client connection: asyncio protocol + httptools (the C parser uvicorn uses).

Why not aiohttp or httpx: a load generator spends its CPU per request, and on this 2-core machine it
shares the cores with the server. Sending pre-built request bytes and parsing with httptools costs a
fraction of a general client's per-request work (docs/loadtest.md has the measurement). One request
at a time per connection (no pipelining), as browsers and nginx upstreams do.
"""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass, field
from typing import cast

import httptools


@dataclass
class Response:
    status: int
    size: int  # bytes on the wire (status line, headers, body), as autocannon counts them
    body: bytes | None  # only when asked for (writes are recorded)
    location: str | None = None
    headers: dict[str, str] | None = None  # the headers named in the connection's `capture`, lowercase


class RequestError(Exception):
    """A request that got no complete response; `kind` is one of timeout, reset, refused, protocol, other."""

    def __init__(self, kind: str, detail: str, *, received: int = 0) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.received = received  # bytes of the response that had arrived (0: closed before any answer)


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno in {errno.ECONNREFUSED}:
        return "refused"
    return "other"


@dataclass
class _Pending:
    future: asyncio.Future[Response]
    keep_body: bool
    size: int = 0
    chunks: list[bytes] = field(default_factory=list)
    location: str | None = None
    headers: dict[str, str] | None = None


class Connection(asyncio.Protocol):
    """One TCP connection; `send()` returns the response, or raises `RequestError`.

    `capture`: lowercase names of response headers to return in `Response.headers` (none by default,
    so the load generator's path does no per-header work beyond the `location` of recorded writes).
    `responses` counts the complete responses it carried: above 0, the connection was kept alive.
    """

    def __init__(self, capture: frozenset[bytes] = frozenset()) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._pending: _Pending | None = None
        self._capture = capture
        self.closed = False
        self.responses = 0

    @classmethod
    async def open(cls, host: str, port: int, timeout: float, *, capture: frozenset[bytes] = frozenset()) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(lambda: cls(capture), host, port)
        except OSError as exc:
            raise RequestError(error_kind(exc), f"connect to {host}:{port}: {exc.strerror or exc}") from None
        except TimeoutError:
            raise RequestError("timeout", f"connect to {host}:{port} took more than {timeout:g}s") from None
        return protocol

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)  # a TCP connection: always a full transport

    def data_received(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:  # bytes nobody asked for: the server broke the protocol
            self._fail(RequestError("protocol", "data received with no request outstanding"))
            return
        pending.size += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(RequestError("protocol", f"malformed response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        detail = f"connection closed before the response completed ({exc or 'EOF'})"
        received = self._pending.size if self._pending is not None else 0
        self._fail(RequestError("reset", detail, received=received), close=False)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if self._pending is not None and self._pending.keep_body and name.lower() == b"location":
            self._pending.location = value.decode("latin-1")
        if self._capture and self._pending is not None and (lower := name.lower()) in self._capture:
            if self._pending.headers is None:
                self._pending.headers = {}
            self._pending.headers[lower.decode("latin-1")] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        if self._pending is not None and self._pending.keep_body:
            self._pending.chunks.append(body)

    def on_message_complete(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None or pending.future.done():
            return
        self.responses += 1
        body = b"".join(pending.chunks) if pending.keep_body else None
        status = self._parser.get_status_code()
        pending.future.set_result(Response(status, pending.size, body, pending.location, pending.headers))
        if not self._parser.should_keep_alive():
            self.close()

    def _fail(self, error: RequestError, *, close: bool = True) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not pending.future.done():
            pending.future.set_exception(error)
        if close:
            self.close()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    async def send(self, request: bytes, timeout: float, *, keep_body: bool = False) -> Response:
        """Send one request and wait at most `timeout` seconds for its whole response."""
        if self.closed or self._transport is None:
            raise RequestError("reset", "connection already closed")
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending = _Pending(future, keep_body)
        self._transport.write(request)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            self._pending = None
            self.close()  # a late response must not be taken for the next request's
            raise RequestError("timeout", f"no complete response within {timeout:g}s") from None
