"""`/openapi.json` and `/docs`: the API described, and a self-contained page to try it (no CDN)."""

from __future__ import annotations

from importlib.resources import files

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from cityscale.api.openapi import openapi_document


def routes() -> list[Route]:
    document = orjson.dumps(openapi_document())
    page = (files("cityscale.api") / "docs.html").read_text()

    async def openapi_json(_request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def docs_page(_request: Request) -> Response:
        return HTMLResponse(page)

    return [
        Route("/openapi.json", openapi_json, methods=["GET"], name="openapi"),
        Route("/docs", docs_page, methods=["GET"], name="docs"),
    ]
