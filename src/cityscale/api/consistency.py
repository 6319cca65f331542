"""Read-your-writes tokens: a write returns the primary's WAL position after its commit; a read that
sends it back is answered only from data at least that new.

The token travels in the `X-Cityscale-LSN` header (for API clients) and in a short-lived cookie (for
browsers and clients that keep cookies). After `lifetime` seconds every replica within the lag limit
has the write anyway, so the cookie expires and reads go back to the cheapest source.
"""

from __future__ import annotations

from starlette.requests import Request

from cityscale.api.problems import bad_request

TOKEN_HEADER = "X-Cityscale-LSN"  # noqa: S105 - a header name, not a secret
TOKEN_COOKIE = "cityscale_lsn"  # noqa: S105 - a cookie name, not a secret
MAX_LSN = 2**63 - 1


def _parse(raw: str) -> int | None:
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_LSN:
        return None
    return int(raw)


def read_token(request: Request) -> int | None:
    """The client's token: from the header (a malformed one is a 400), else the cookie (ignored if bad)."""
    header = request.headers.get(TOKEN_HEADER.lower())
    if header is not None:
        lsn = _parse(header)
        if lsn is None:
            raise bad_request(f"{TOKEN_HEADER} must be the decimal token a write returned", "invalid-token")
        return lsn
    cookie = request.cookies.get(TOKEN_COOKIE)
    return _parse(cookie) if cookie else None


def token_headers(lsn: int, lifetime: float) -> dict[str, str]:
    return {
        TOKEN_HEADER: str(lsn),
        "Set-Cookie": f"{TOKEN_COOKIE}={lsn}; Max-Age={max(1, int(lifetime))}; Path=/; HttpOnly; SameSite=Lax",
    }
