"""The URL under test: where to connect and what goes in the request line and `Host` header."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


class TargetError(ValueError):
    """A URL the load generator cannot use."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    host_header: str
    path_prefix: str  # the URL's path without a trailing slash; mix paths are appended to it
    path_and_query: str  # the URL's own path and query: the request when no mix is given


def parse_target(url: str) -> Target:
    """Plain HTTP/1.1 only: TLS would measure the generator's crypto, not the service behind nginx."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise TargetError(f"URL {url!r}: only http:// is supported (put TLS termination out of the measured path)")
    if not parts.hostname:
        raise TargetError(f"URL {url!r}: no host")
    try:
        port = parts.port or 80
    except ValueError:
        raise TargetError(f"URL {url!r}: the port is not a number between 0 and 65535") from None
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    host_header = parts.netloc.rpartition("@")[2]
    return Target(parts.hostname, port, host_header, path.rstrip("/"), path + query)
