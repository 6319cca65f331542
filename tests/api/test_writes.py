"""Writes: bearer auth, validation, and each write visible to the next read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.servers import api_instance

PROBLEM = "application/problem+json"
NEW_CITY = {
    "city_name": "Testville",
    "country": "Nowhere",
    "state": "Test State",
    "population": 1234,
    "latitude": 1.5,
    "longitude": -2.25,
    "timezone": "Etc/UTC",
    "country_code": "ZZ",
}


def test_create_read_replace_patch_delete(api: httpx.Client, auth: dict[str, str]) -> None:
    created = api.post("/api/cities", json=NEW_CITY, headers=auth)
    assert created.status_code == 201
    city = created.json()
    assert created.headers["location"] == f"/api/cities/{city['id']}"
    assert {k: city[k] for k in NEW_CITY} == NEW_CITY
    assert api.get(created.headers["location"]).json() == city

    replaced = api.put(f"/api/cities/{city['id']}", json={"city_name": "Renamed", "country": "Elsewhere"}, headers=auth)
    assert replaced.status_code == 200
    # PUT replaces the whole city: fields left out go back to their defaults.
    assert replaced.json() == {
        "id": city["id"],
        "state": "",
        "country": "Elsewhere",
        "city_name": "Renamed",
        "country_code": None,
        "population": 0,
        "latitude": None,
        "longitude": None,
        "timezone": None,
    }

    patched = api.patch(
        f"/api/cities/{city['id']}",
        json={"population": 99, "timezone": "Europe/Paris"},
        headers={**auth, "Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200
    assert (patched.json()["population"], patched.json()["city_name"]) == (99, "Renamed")
    cleared = api.patch(f"/api/cities/{city['id']}", json={"timezone": None}, headers=auth)
    assert cleared.json()["timezone"] is None
    assert api.get(f"/api/cities/{city['id']}").json() == cleared.json()

    assert api.delete(f"/api/cities/{city['id']}", headers=auth).status_code == 204
    assert api.get(f"/api/cities/{city['id']}").status_code == 404
    assert api.delete(f"/api/cities/{city['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dGVzdA=="},
        {"Authorization": ""},
    ],
    ids=["none", "wrong", "empty", "basic", "blank"],
)
def test_writes_without_the_right_token_are_refused(api: httpx.Client, headers: dict[str, str]) -> None:
    before = api.get("/api/cities", params={"q": "Unauthorized"}).json()
    for response in (
        api.post("/api/cities", json={**NEW_CITY, "city_name": "Unauthorized"}, headers=headers),
        api.put("/api/cities/1", json=NEW_CITY, headers=headers),
        api.patch("/api/cities/1", json={"population": 1}, headers=headers),
        api.delete("/api/cities/1", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert api.get("/api/cities", params={"q": "Unauthorized"}).json() == before
    assert api.get("/api/cities/1").json()["city_name"] == "Shanghai"


def test_writes_are_refused_when_no_token_is_configured(module_database_url: str, scratch: Path) -> None:
    env = {"DATABASE_URL": module_database_url, "LOG_LEVEL": "warning"}
    headers = {"Authorization": "Bearer anything"}
    with api_instance(env, scratch / "logs") as instance, httpx.Client(base_url=instance.url, timeout=10) as client:
        for response in (
            client.post("/api/cities", json=NEW_CITY, headers=headers),
            client.put("/api/cities/1", json=NEW_CITY, headers=headers),
            client.patch("/api/cities/1", json={"population": 1}, headers=headers),
            client.delete("/api/cities/1", headers=headers),
            client.post("/api/cities", json=NEW_CITY),  # no credentials at all: still "writes are off"
        ):
            assert response.status_code == 403
            assert response.headers["content-type"] == PROBLEM
            problem = response.json()
            assert problem["status"] == 403
            assert "no API_TOKEN" in problem["detail"]  # says why, so the operator knows what to set
        assert client.get("/api/cities/1").json()["city_name"] == "Shanghai"  # reads stay open, nothing changed


@pytest.mark.parametrize(
    ("body", "content_type", "status", "detail"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b'{"city_name": "X", "country": "Y"}', "text/plain", 415, "application/json"),
        (b'{"city_name": "X", "country": "Y"}', None, 415, "no Content-Type"),
        (b'{"city_name": "X"}', "application/json", 422, "country"),
        (b'{"city_name": "", "country": "Y"}', "application/json", 422, "city_name"),
        (b'{"city_name": "X", "country": "Y", "mayor": "Z"}', "application/json", 422, "mayor"),
        (b'{"city_name": "X", "country": "Y", "population": "many"}', "application/json", 422, "population"),
        (b'{"city_name": "X", "country": "Y", "population": -1}', "application/json", 422, "population"),
        (b'{"city_name": "X", "country": "Y", "latitude": 91}', "application/json", 422, "latitude"),
        (b'{"city_name": "X", "country": "Y", "country_code": "fra"}', "application/json", 422, "country_code"),
        (b'{"city_name": "X\\u0000", "country": "Y"}', "application/json", 422, "city_name"),
        (b'{"city_name": "X", "country": "Y", "population": 1e400}', "application/json", 422, "population"),
        (b"[1, 2]", "application/json", 422, "object"),
    ],
)
def test_bad_bodies_get_precise_errors(  # noqa: PLR0917 - one parameter per column of the table
    api: httpx.Client, auth: dict[str, str], body: bytes, content_type: str | None, status: int, detail: str
) -> None:
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    response = api.post("/api/cities", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]


def test_oversized_body_is_refused(api: httpx.Client, auth: dict[str, str]) -> None:
    huge = b'{"city_name": "' + b"x" * 100_000 + b'", "country": "Y"}'
    response = api.post("/api/cities", content=huge, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 413

    def chunks() -> object:
        for _ in range(100):
            yield b"x" * 1000

    streamed = api.post("/api/cities", content=chunks(), headers={**auth, "Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_update_of_missing_city_is_404(api: httpx.Client, auth: dict[str, str]) -> None:
    assert api.put("/api/cities/999999999", json=NEW_CITY, headers=auth).status_code == 404
    assert api.patch("/api/cities/999999999", json={"population": 1}, headers=auth).status_code == 404


def test_names_with_json_agg_separators_survive_paging(api: httpx.Client, auth: dict[str, str]) -> None:
    # Pages are cut and compacted on json_agg's element separator; data can never contain it raw.
    tricky = ["Sep, \n one", "Sep, \n two", "Sep}, \n {three"]
    for name in tricky:
        assert api.post("/api/cities", json={"city_name": name, "country": "Tricky"}, headers=auth).status_code == 201
    first = api.get("/api/cities", params={"country": "Tricky", "limit": 2})
    assert [c["city_name"] for c in first.json()] == tricky[:2]
    rest = api.get(first.headers["link"].split(">")[0].lstrip("<"))
    assert [c["city_name"] for c in rest.json()] == tricky[2:]
    assert "link" not in rest.headers
