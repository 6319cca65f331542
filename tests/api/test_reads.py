"""GET /api/cities and /api/cities/{id} on the real seeded data: shape, filters, pages, HTTP caching."""

from __future__ import annotations

import re

import httpx
import pytest

PROBLEM = "application/problem+json"


def next_link(response: httpx.Response) -> str | None:
    match = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers.get("link", ""))
    return match.group(1) if match else None


def test_list_has_the_original_shape_plus_extra_fields(api: httpx.Client) -> None:
    response = api.get("/api/cities")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    cities = response.json()
    assert len(cities) == 50
    assert list(cities[0]) == [
        "id", "state", "country", "city_name", "country_code", "population", "latitude", "longitude", "timezone"
    ]  # fmt: skip
    assert [c["id"] for c in cities] == sorted(c["id"] for c in cities)


def test_item_and_missing_item(api: httpx.Client) -> None:
    city = api.get("/api/cities/1").json()
    assert (city["city_name"], city["country"], city["country_code"]) == ("Shanghai", "China", "CN")
    missing = api.get("/api/cities/999999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["detail"] == "there is no city with id 999999999"


def test_pagination_walks_every_row_exactly_once(api: httpx.Client) -> None:
    # Iceland has a handful of cities above 15,000 inhabitants: small enough to walk in pages of 2.
    everything = api.get("/api/cities", params={"country": "IS", "limit": 1000}).json()
    assert len(everything) >= 3
    seen: list[int] = []
    url: str | None = "/api/cities?country=IS&limit=2"
    pages = 0
    while url is not None:
        response = api.get(url)
        assert response.status_code == 200
        seen += [c["id"] for c in response.json()]
        url = next_link(response)
        pages += 1
        assert pages <= len(everything)
    assert seen == [c["id"] for c in everything]
    assert pages == (len(everything) + 1) // 2


def test_last_page_has_no_next_link(api: httpx.Client) -> None:
    response = api.get("/api/cities", params={"country": "IS", "limit": 1000})
    assert next_link(response) is None


@pytest.mark.parametrize("country", ["FR", "fr", "France", "FRANCE"])
def test_country_filter_takes_code_or_name(api: httpx.Client, country: str) -> None:
    cities = api.get("/api/cities", params={"country": country, "limit": 1000}).json()
    assert len(cities) > 100
    assert {c["country_code"] for c in cities} == {"FR"}


def test_state_filter_uses_region_names_in_the_us(api: httpx.Client) -> None:
    cities = api.get("/api/cities", params={"state": "california", "limit": 1000}).json()
    assert len(cities) > 100
    assert {c["state"] for c in cities} == {"California"}
    assert "Los Angeles" in {c["city_name"] for c in cities}


def test_name_prefix_is_case_insensitive_and_unicode_aware(api: httpx.Client) -> None:
    names = {c["city_name"] for c in api.get("/api/cities", params={"q": "sao p", "limit": 1000}).json()}
    assert names == set()  # no accent folding: "são" is not "sao"
    names = {c["city_name"] for c in api.get("/api/cities", params={"q": "SÃO P", "limit": 1000}).json()}
    assert "São Paulo" in names
    assert all(name.lower().startswith("são p") for name in names)


def test_name_prefix_treats_like_wildcards_literally(api: httpx.Client) -> None:
    assert api.get("/api/cities", params={"q": "%"}).json() == []
    assert api.get("/api/cities", params={"q": "_"}).json() == []


def test_min_population_and_combined_filters(api: httpx.Client) -> None:
    big = api.get("/api/cities", params={"min_population": 10_000_000, "limit": 1000}).json()
    assert big
    assert all(c["population"] >= 10_000_000 for c in big)
    tokyo_like = api.get("/api/cities", params={"country": "JP", "min_population": 5_000_000}).json()
    assert {c["country_code"] for c in tokyo_like} == {"JP"}


def test_etag_and_not_modified(api: httpx.Client) -> None:
    first = api.get("/api/cities/2")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=1"
    again = api.get("/api/cities/2", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = api.get("/api/cities/2", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    changed = api.get("/api/cities/2", headers={"If-None-Match": '"stale"'})
    assert changed.status_code == 200


def test_request_id_is_echoed_or_generated(api: httpx.Client) -> None:
    assert api.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = api.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{24}", generated)
    hostile = api.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 200}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{24}", hostile)


def test_health_readiness_and_docs(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["primary"]["ok"] is True
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"/api/cities", "/api/cities/{id}", "/healthz", "/readyz"} <= set(spec["paths"])
    page = api.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text


def test_unknown_route_and_method_are_problems(api: httpx.Client) -> None:
    missing = api.get("/nope")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    wrong = api.request("TRACE", "/api/cities")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == PROBLEM


def test_list_pages_have_etags_too(api: httpx.Client) -> None:
    params = {"country": "IS", "limit": 2}
    first = api.get("/api/cities", params=params)
    etag = first.headers["etag"]
    again = api.get("/api/cities", params=params, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert next_link(again) == next_link(first)  # a client revalidating a page can still walk on
    other_page = api.get("/api/cities", params={"country": "IS", "limit": 3}, headers={"If-None-Match": etag})
    assert other_page.status_code == 200
    assert other_page.headers["etag"] != etag
