"""Errors as `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

PROBLEM_TYPE_PREFIX = "urn:cityscale:problem:"


class Problem(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self, status: int, slug: str, title: str, detail: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return problem_response(self.status, self.slug, self.title, self.detail, headers=self.headers)


def problem_response(
    status: int, slug: str, title: str, detail: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    body = orjson.dumps({"type": PROBLEM_TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail})
    return Response(body, status_code=status, media_type="application/problem+json", headers=dict(headers or {}))


def bad_request(detail: str, slug: str = "invalid-parameter") -> Problem:
    return Problem(400, slug, "Invalid request", detail)


def service_unavailable(detail: str, retry_after: int = 1) -> Problem:
    return Problem(
        503, "unavailable", "Service temporarily unavailable", detail, headers={"Retry-After": str(retry_after)}
    )
