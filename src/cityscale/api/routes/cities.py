"""`/api/cities`: list, read, create, replace, patch, delete.

Reads go through the read cache (L1, Redis, then a replica or the primary) and hand the cached bytes
to the response; writes go to the primary, invalidate what they changed, and return a
read-your-writes token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityscale.api import bodies, params
from cityscale.api.consistency import read_token, token_headers
from cityscale.api.http_cache import json_response, stale_headers
from cityscale.api.problems import Problem
from cityscale.cache.read_through import Loaded, Lookup
from cityscale.store import cities as store

if TYPE_CHECKING:
    from cityscale.api.app import Services


def _not_found(city_id: int) -> Problem:
    return Problem(404, "not-found", "City not found", f"there is no city with id {city_id}")


def _list_cache_key(query: store.ListQuery) -> str:
    # The validated, normalized parameters (not the raw query string): equal queries share one entry.
    country = query.country.lower() if query.country else ""
    state = query.state.lower() if query.state else ""
    text = f"{query.limit}|{query.after_id}|{country}|{state}|{query.name_prefix or ''}|{query.min_population}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class CityRoutes:
    def __init__(self, services: Services) -> None:
        self.database = services.database
        self.cache = services.cache
        self.auth = services.auth
        self.max_body = services.settings.MAX_BODY_BYTES
        self.token_lifetime = services.settings.MAX_REPLICA_LAG + 2

    def _respond(self, request: Request, lookup: Lookup, headers: dict[str, str] | None = None) -> Response:
        entry = lookup.entry
        # X-Cache says where the bytes came from (l1, redis, db, stale): the first thing to look at at 3 a.m.
        extra = {**(headers or {}), "X-Cache": lookup.source, **(stale_headers(entry) if lookup.stale else {})}
        return json_response(request, entry.body, etag=entry.etag, headers=extra)

    async def list_cities(self, request: Request) -> Response:
        query = params.parse_list_query(request.query_params)

        async def load(min_lsn: int | None) -> Loaded:
            page, lsn = await self.database.read(lambda conn: store.list_page(conn, query), min_lsn=min_lsn)
            return Loaded(page.body, lsn, page.next_after_id)

        lookup = await self.cache.get(self.cache.list_key(_list_cache_key(query)), load, min_lsn=read_token(request))
        headers = {}
        if lookup.entry.next_after_id is not None:
            next_query = params.next_page_query(request.scope["query_string"], lookup.entry.next_after_id)
            headers["Link"] = f'<{request.url.path}?{next_query}>; rel="next"'
        return self._respond(request, lookup, headers)

    async def get_city(self, request: Request) -> Response:
        city_id = params.parse_id(request.path_params["id"])

        async def load(min_lsn: int | None) -> Loaded:
            body, lsn = await self.database.read(lambda conn: store.get_item(conn, city_id), min_lsn=min_lsn)
            return Loaded(body, lsn)

        lookup = await self.cache.get(self.cache.item_key(city_id), load, min_lsn=read_token(request))
        if not lookup.entry.found:
            raise _not_found(city_id)
        return self._respond(request, lookup)

    async def create_city(self, request: Request) -> Response:
        self.auth.require(request)
        city = bodies.decode(await bodies.read_body(request, self.max_body), bodies.CityWrite)
        (city_id, body), lsn = await self.database.write(lambda conn: store.insert(conn, bodies.as_columns(city)))
        await self.cache.invalidate(city_id, lsn)
        headers = {"Location": f"/api/cities/{city_id}", **token_headers(lsn, self.token_lifetime)}
        return Response(body, status_code=201, media_type="application/json", headers=headers)

    async def replace_city(self, request: Request) -> Response:
        return await self._update(request, bodies.CityWrite)

    async def patch_city(self, request: Request) -> Response:
        return await self._update(request, bodies.CityPatch)

    async def _update(self, request: Request, kind: type[bodies.CityWrite] | type[bodies.CityPatch]) -> Response:
        self.auth.require(request)
        city_id = params.parse_id(request.path_params["id"])
        change = bodies.as_columns(bodies.decode(await bodies.read_body(request, self.max_body), kind))
        body, lsn = await self.database.write(lambda conn: store.update(conn, city_id, change))
        if body is None:
            raise _not_found(city_id)
        await self.cache.invalidate(city_id, lsn)
        return Response(body, media_type="application/json", headers=token_headers(lsn, self.token_lifetime))

    async def delete_city(self, request: Request) -> Response:
        self.auth.require(request)
        city_id = params.parse_id(request.path_params["id"])
        deleted, lsn = await self.database.write(lambda conn: store.delete(conn, city_id))
        if not deleted:
            raise _not_found(city_id)
        await self.cache.invalidate(city_id, lsn)
        return Response(status_code=204, headers=token_headers(lsn, self.token_lifetime))


def by_method(path: str, name: str, handlers: dict[str, Callable[[Request], Awaitable[Response]]]) -> Route:
    """One route per path, so a 405 lists every method the path supports in its `Allow` header."""
    handlers = {**handlers, "HEAD": handlers["GET"]} if "GET" in handlers else handlers

    async def dispatch(request: Request) -> Response:
        return await handlers[request.method](request)

    return Route(path, dispatch, methods=list(handlers), name=name)


def routes(services: Services) -> list[Route]:
    h = CityRoutes(services)
    return [
        by_method("/api/cities", "cities", {"GET": h.list_cities, "POST": h.create_city}),
        by_method(
            "/api/cities/{id}",
            "city",
            {"GET": h.get_city, "PUT": h.replace_city, "PATCH": h.patch_city, "DELETE": h.delete_city},
        ),
    ]
