"""Strict parsing of path and query parameters: anything unexpected is a precise 400, never a 500."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from starlette.datastructures import QueryParams

from cityscale.api.problems import bad_request
from cityscale.store.cities import ListQuery

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_TEXT_LENGTH = 100
MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_POPULATION = 10**11
LIST_PARAMETERS = frozenset({"limit", "cursor", "country", "state", "q", "min_population"})
# A cursor is `c2:<after id>:<check>` in unpadded base64url. The check (a short hash of the id) makes a
# truncated or edited cursor fail loudly instead of silently serving another page: "c1:1000" cut short
# was "c1:100", a valid cursor. It is not a secret: a client that forges one only skips to a public page.
_CURSOR_FORMAT = re.compile(r"c2:(0|[1-9][0-9]{0,18}):([0-9a-f]{6})", re.ASCII)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def parse_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit():
        raise bad_request(f"city id must be a positive integer, got {raw[:40]!r}", "invalid-id")
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise bad_request(f"city id must be between 1 and {MAX_ID}", "invalid-id")
    return value


def _int_param(name: str, raw: str, low: int, high: int) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise bad_request(f"{name} must be an integer between {low} and {high}, got {raw[:40]!r}")
    value = int(text)
    if not low <= value <= high:
        raise bad_request(f"{name} must be an integer between {low} and {high}, got {value}")
    return value


def _text_param(name: str, raw: str) -> str:
    if "\x00" in raw:
        raise bad_request(f"{name} must not contain NUL characters")
    if not raw.strip():
        raise bad_request(f"{name} must not be empty")
    if len(raw) > MAX_TEXT_LENGTH:
        raise bad_request(f"{name} is longer than {MAX_TEXT_LENGTH} characters")
    return raw


def _cursor_check(after_id: int) -> str:
    return hashlib.blake2s(str(after_id).encode(), digest_size=3, person=b"cursor").hexdigest()


def encode_cursor(after_id: int) -> str:
    text = f"c2:{after_id}:{_cursor_check(after_id)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> int:
    """The id a cursor resumes after; a 400 for anything this server did not mint, byte for byte."""
    problem = bad_request(
        'cursor is not valid; follow the Link: rel="next" header of the previous page', "invalid-cursor"
    )
    # Strict alphabet first: the base64 decoder silently skips characters outside it.
    if len(raw) > 64 or not _BASE64URL.fullmatch(raw):
        raise problem
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise problem from None
    match = _CURSOR_FORMAT.fullmatch(text)
    if match is None:
        raise problem
    after_id = int(match.group(1))
    # The canonical encoding must be exactly what was sent: this checks the check, and rejects padding and
    # leftover bits in the last character that the decoder would otherwise ignore.
    if after_id > MAX_ID or encode_cursor(after_id) != raw:
        raise problem
    return after_id


def parse_list_query(params: QueryParams) -> ListQuery:
    """Validate `GET /api/cities` parameters: unknown or repeated ones are refused, not ignored."""
    for name in params:
        if name not in LIST_PARAMETERS:
            raise bad_request(f"unknown query parameter {name[:40]!r}; accepted: {', '.join(sorted(LIST_PARAMETERS))}")
        if len(params.getlist(name)) > 1:
            raise bad_request(f"query parameter {name!r} is given more than once")
    limit = params.get("limit")
    cursor = params.get("cursor")
    country = params.get("country")
    state = params.get("state")
    prefix = params.get("q")
    min_population = params.get("min_population")
    return ListQuery(
        limit=_int_param("limit", limit, 1, MAX_LIMIT) if limit is not None else DEFAULT_LIMIT,
        after_id=decode_cursor(cursor) if cursor is not None else 0,
        country=_text_param("country", country) if country is not None else None,
        state=_text_param("state", state) if state is not None else None,
        name_prefix=_text_param("q", prefix) if prefix is not None else None,
        min_population=(
            _int_param("min_population", min_population, 0, MAX_POPULATION) if min_population is not None else None
        ),
    )


def next_page_query(query_string: bytes, after_id: int) -> str:
    """The query string of the next page: the request's own (already validated) parameters, new cursor.

    Works on the raw string rather than re-encoding parsed values: on a cached list this runs on every
    request, and re-encoding cost more than the rest of the cache hit.
    """
    kept = [part for part in query_string.decode("latin-1").split("&") if part and not part.startswith("cursor=")]
    kept.append("cursor=" + encode_cursor(after_id))
    return "&".join(kept)
