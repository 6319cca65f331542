"""`/api/cities`: list, read, create, replace, patch, delete.

Reads hand PostgreSQL's JSON bytes straight to the response (see store/cities.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityscale.api import bodies, params
from cityscale.api.http_cache import json_response
from cityscale.api.problems import Problem
from cityscale.store import cities as store

if TYPE_CHECKING:
    from cityscale.api.app import Services


def _not_found(city_id: int) -> Problem:
    return Problem(404, "not-found", "City not found", f"there is no city with id {city_id}")


class CityRoutes:
    def __init__(self, services: Services) -> None:
        self.database = services.database
        self.auth = services.auth
        self.max_body = services.settings.MAX_BODY_BYTES

    async def list_cities(self, request: Request) -> Response:
        query = params.parse_list_query(request.query_params)
        async with self.database.read() as conn:
            page = await store.list_page(conn, query)
        headers = {}
        if page.next_after_id is not None:
            next_query = params.next_page_query(request.query_params, page.next_after_id)
            headers["Link"] = f'<{request.url.path}?{next_query}>; rel="next"'
        return json_response(request, page.body, headers=headers)

    async def get_city(self, request: Request) -> Response:
        city_id = params.parse_id(request.path_params["id"])
        async with self.database.read() as conn:
            body = await store.get_item(conn, city_id)
        if body is None:
            raise _not_found(city_id)
        return json_response(request, body)

    async def create_city(self, request: Request) -> Response:
        self.auth.require(request)
        city = bodies.decode(await bodies.read_body(request, self.max_body), bodies.CityWrite)
        async with self.database.write() as conn:
            city_id, body = await store.insert(conn, bodies.as_columns(city))
        return Response(
            body, status_code=201, media_type="application/json", headers={"Location": f"/api/cities/{city_id}"}
        )

    async def replace_city(self, request: Request) -> Response:
        return await self._update(request, bodies.CityWrite)

    async def patch_city(self, request: Request) -> Response:
        return await self._update(request, bodies.CityPatch)

    async def _update(self, request: Request, kind: type[bodies.CityWrite] | type[bodies.CityPatch]) -> Response:
        self.auth.require(request)
        city_id = params.parse_id(request.path_params["id"])
        change = bodies.decode(await bodies.read_body(request, self.max_body), kind)
        async with self.database.write() as conn:
            body = await store.update(conn, city_id, bodies.as_columns(change))
        if body is None:
            raise _not_found(city_id)
        return Response(body, media_type="application/json")

    async def delete_city(self, request: Request) -> Response:
        self.auth.require(request)
        city_id = params.parse_id(request.path_params["id"])
        async with self.database.write() as conn:
            deleted = await store.delete(conn, city_id)
        if not deleted:
            raise _not_found(city_id)
        return Response(status_code=204)


def routes(services: Services) -> list[Route]:
    handlers = CityRoutes(services)
    return [
        Route("/api/cities", handlers.list_cities, methods=["GET"], name="list_cities"),
        Route("/api/cities", handlers.create_city, methods=["POST"], name="create_city"),
        Route("/api/cities/{id}", handlers.get_city, methods=["GET"], name="get_city"),
        Route("/api/cities/{id}", handlers.replace_city, methods=["PUT"], name="replace_city"),
        Route("/api/cities/{id}", handlers.patch_city, methods=["PATCH"], name="patch_city"),
        Route("/api/cities/{id}", handlers.delete_city, methods=["DELETE"], name="delete_city"),
    ]
