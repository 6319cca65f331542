"""Bearer-token authorization of writes.

The token is compared in constant time (`hmac.compare_digest`) and never logged. With no `API_TOKEN`
configured, writes are refused with 403 (fail closed) rather than allowed.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from cityscale.api.problems import Problem


class BearerAuth:
    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    def require(self, request: Request) -> None:
        if self._token is None:
            raise Problem(
                403,
                "writes-disabled",
                "Writes are disabled",
                "this instance has no API_TOKEN configured, so it refuses every write",
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="cityscale"'}
        if scheme.lower() != "bearer" or not given.strip():
            raise Problem(
                401,
                "unauthorized",
                "Authentication required",
                "send the API token as 'Authorization: Bearer <token>'",
                headers=challenge,
            )
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise Problem(
                401,
                "unauthorized",
                "Authentication failed",
                "the bearer token is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="cityscale", error="invalid_token"'},
            )
