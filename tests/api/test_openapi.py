"""/openapi.json is a valid OpenAPI 3.1 document and describes exactly the API the app serves.

openapi-spec-validator checks it against the OpenAPI 3.1 meta-schema (offline: the schema ships with
the package); schemathesis (tests/security) then checks that responses match it.
"""

from __future__ import annotations

import copy

import httpx
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from cityscale.api.app import create_app
from cityscale.api.openapi import openapi_document
from cityscale.settings import Settings

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def test_the_served_document_is_valid_openapi_3_1(api: httpx.Client) -> None:
    served = api.get("/openapi.json")
    assert served.status_code == 200
    document = served.json()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises OpenAPIValidationError with the offending path
    assert document == openapi_document()


def test_the_validator_would_catch_a_broken_document() -> None:
    broken = copy.deepcopy(openapi_document())
    broken["paths"]["/api/cities"]["get"]["responses"]["200"]["description"] = 5
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_served_route_is_documented_and_nothing_else() -> None:
    app = create_app(Settings(DATABASE_URL="postgresql://nobody@127.0.0.1/none"))
    served = {
        (route.path, method.lower())
        for route in app.routes
        if getattr(route, "include_in_schema", False) and route.path not in {"/openapi.json", "/docs"}
        for method in route.methods or ()
        if method.lower() in HTTP_METHODS
    }
    documented = {
        (path, method)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }
    assert documented == served


def test_every_operation_documents_the_errors_it_can_answer() -> None:
    # What the handlers really answer (tests/api prove each): a client generated from the document
    # must know every one of them.
    reads = {"400", "503"}
    writes = {"400", "401", "403", "503"}
    bodies = {"413", "415", "422"}
    expected = {
        ("/api/cities", "get"): reads | {"200", "304"},
        ("/api/cities", "post"): writes | bodies | {"201"},
        ("/api/cities/{id}", "get"): reads | {"200", "304", "404"},
        ("/api/cities/{id}", "put"): writes | bodies | {"200", "404"},
        ("/api/cities/{id}", "patch"): writes | bodies | {"200", "404"},
        ("/api/cities/{id}", "delete"): writes | {"204", "404"},
        ("/readyz", "get"): {"200", "503"},
        ("/healthz", "get"): {"200"},
    }
    documented = {
        (path, method): set(operation["responses"])
        for path, operations in openapi_document()["paths"].items()
        for method, operation in operations.items()
        if method in HTTP_METHODS
    }
    assert documented == expected
