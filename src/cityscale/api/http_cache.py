"""HTTP caching of read responses: a strong ETag from the body bytes, 304 on a matching If-None-Match,
and the `Age`/`Warning` of a stale answer served while the database is down (stale-if-error)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cityscale.cache.entry import CacheEntry, etag_of

# Short enough that a write is visible to every client within about a second (DESIGN.md).
CACHE_CONTROL = "public, max-age=1"
STALE_WARNING = '110 - "Response is Stale"'


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
    return any(candidate.strip().removeprefix("W/") == etag for candidate in if_none_match.split(","))


def json_response(
    request: Request, body: bytes, *, etag: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A cacheable JSON response, or 304 Not Modified when the client already has these bytes."""
    etag = etag or etag_of(body)
    all_headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, **(headers or {})}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=all_headers)
    return Response(body, media_type="application/json", headers=all_headers)


def stale_headers(entry: CacheEntry) -> dict[str, str]:
    return {"Age": str(int(entry.age())), "Warning": STALE_WARNING}
