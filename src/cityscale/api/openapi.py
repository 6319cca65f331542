"""The OpenAPI 3.1 document, written out by hand for the paths and generated from msgspec for bodies.

Hand-written because the handlers parse parameters themselves (for speed and for precise errors);
tests run schemathesis against this document, so it cannot drift from what the API really does.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cityscale import __version__
from cityscale.api.bodies import CityPatch, CityWrite
from cityscale.api.params import DEFAULT_LIMIT, MAX_LIMIT, MAX_POPULATION, MAX_TEXT_LENGTH
from cityscale.store.cities import PUBLIC_COLUMNS

_CITY = {
    "type": "object",
    "required": list(PUBLIC_COLUMNS),
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "state": {"type": "string", "description": "Admin-1 region: its name where known, else its code"},
        "country": {"type": "string"},
        "city_name": {"type": "string"},
        "country_code": {"type": ["string", "null"]},
        "population": {"type": "integer", "minimum": 0},
        "latitude": {"type": ["number", "null"]},
        "longitude": {"type": ["number", "null"]},
        "timezone": {"type": ["string", "null"]},
    },
}

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _json(description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH}
_UNAVAILABLE = _problem("A database is unavailable or busy; retry after Retry-After seconds")
_ETAG = {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}}
_NOT_MODIFIED = {"description": "Not modified (If-None-Match matched the ETag)"}
_AUTH_ERRORS = {
    "401": _problem("Missing or wrong bearer token"),
    "403": _problem("Writes are disabled (no API_TOKEN configured)"),
    "413": _problem("Body too large"),
    "415": _problem("Body is not application/json"),
    "422": _problem("Body does not match the schema"),
}


def _write_body(ref: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"}
    return {
        "required": True,
        "content": {"application/json": {"schema": schema}, "application/merge-patch+json": {"schema": schema}},
    }


def openapi_document() -> dict[str, Any]:
    (write_schema, patch_schema), components = msgspec.json.schema_components(
        [CityWrite, CityPatch], ref_template="#/components/schemas/{name}"
    )
    del write_schema, patch_schema
    # msgspec describes population as int-or-float (so 154.0 decodes); to clients it is an integer.
    population = {"type": "integer", "minimum": 0, "maximum": 10**11}
    components["CityWrite"]["properties"]["population"] = population
    components["CityPatch"]["properties"]["population"] = population
    city_ref = {"$ref": "#/components/schemas/City"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cityscale",
            "version": __version__,
            "description": "Cities of the world (GeoNames, CC BY 4.0). Reads are public; writes need "
            "'Authorization: Bearer <API_TOKEN>'.",
        },
        "paths": {
            "/api/cities": {
                "get": {
                    "operationId": "listCities",
                    "summary": 'List cities, a page at a time (follow the Link: rel="next" header)',
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": 64},
                            "description": (
                                "Opaque; taken from the previous page's Link header "
                                "(a truncated or edited cursor is a 400)"
                            ),
                        },
                        {
                            "name": "country",
                            "in": "query",
                            "schema": _TEXT,
                            "description": "Country name or ISO 3166-1 alpha-2 code, case-insensitive",
                        },
                        {"name": "state", "in": "query", "schema": _TEXT},
                        {"name": "q", "in": "query", "schema": _TEXT, "description": "City name prefix"},
                        {
                            "name": "min_population",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_POPULATION},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            "A page of cities",
                            {"type": "array", "items": city_ref},
                            {**_ETAG, "Link": {"schema": {"type": "string"}}},
                        ),
                        "304": _NOT_MODIFIED,
                        "400": _problem("Invalid parameter"),
                        "503": _UNAVAILABLE,
                    },
                },
                "post": {
                    "operationId": "createCity",
                    "summary": "Create a city",
                    "security": [{"bearer": []}],
                    "requestBody": _write_body("CityWrite"),
                    "responses": {
                        "201": _json("Created", city_ref, {"Location": {"schema": {"type": "string"}}}),
                        "400": _problem("Malformed JSON"),
                        **_AUTH_ERRORS,
                        "503": _UNAVAILABLE,
                    },
                },
            },
            "/api/cities/{id}": {
                "parameters": [_ID],
                "get": {
                    "operationId": "getCity",
                    "summary": "One city",
                    "responses": {
                        "200": _json("The city", city_ref, _ETAG),
                        "304": _NOT_MODIFIED,
                        "400": _problem("Invalid id"),
                        "404": _problem("No such city"),
                        "503": _UNAVAILABLE,
                    },
                },
                "put": {
                    "operationId": "replaceCity",
                    "summary": "Replace a city",
                    "security": [{"bearer": []}],
                    "requestBody": _write_body("CityWrite"),
                    "responses": {
                        "200": _json("The city", city_ref),
                        "400": _problem("Invalid id or JSON"),
                        "404": _problem("No such city"),
                        **_AUTH_ERRORS,
                        "503": _UNAVAILABLE,
                    },
                },
                "patch": {
                    "operationId": "patchCity",
                    "summary": "Change some fields of a city (JSON merge patch)",
                    "description": (
                        "Sets the given fields to the given values. Idempotent: sending the same patch "
                        "again leaves the city as the first one did, so a client whose connection closed "
                        "before any answer may retry it (RFC 9110 9.2.2)."
                    ),
                    "security": [{"bearer": []}],
                    "requestBody": _write_body("CityPatch"),
                    "responses": {
                        "200": _json("The city", city_ref),
                        "400": _problem("Invalid id or JSON"),
                        "404": _problem("No such city"),
                        **_AUTH_ERRORS,
                        "503": _UNAVAILABLE,
                    },
                },
                "delete": {
                    "operationId": "deleteCity",
                    "summary": "Delete a city",
                    "security": [{"bearer": []}],
                    "responses": {
                        "204": {"description": "Deleted"},
                        "400": _problem("Invalid id"),
                        "401": _AUTH_ERRORS["401"],
                        "403": _AUTH_ERRORS["403"],
                        "404": _problem("No such city"),
                        "503": _UNAVAILABLE,
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness: the process answers",
                    "responses": {"200": _json("Alive", {"type": "object"})},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness of each dependency",
                    "responses": {
                        "200": _json("Ready", {"type": "object"}),
                        "503": _json("Cannot serve", {"type": "object"}),
                    },
                }
            },
        },
        "components": {
            "schemas": {**components, "City": _CITY, "Problem": _PROBLEM},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
