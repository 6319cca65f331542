"""Property-based: whatever a client sends, the answer is a precise 4xx or a success, never a 5xx."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PARAMETERS = ["limit", "cursor", "country", "state", "q", "min_population"]
SQL_INJECTIONS = [
    "' OR '1'='1", "1; DROP TABLE cities; --", "' UNION SELECT password FROM pg_shadow --", "\\", "%' --",
    "1)) OR pg_sleep(5) IS NULL --", "$1", "'; COMMIT; --",
]  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=150), st.sampled_from(SQL_INJECTIONS), st.integers(min_value=-(10**30), max_value=10**30).map(str)
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_clean(response: httpx.Response, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["detail"]


@FUZZ
@given(
    params=st.dictionaries(st.one_of(st.sampled_from(PARAMETERS), st.text(min_size=1, max_size=20)), TEXT, max_size=4)
)
def test_list_parameters(api: httpx.Client, params: dict[str, str]) -> None:
    assert_clean(api.get("/api/cities", params=params), {200, 400})


@FUZZ
@given(raw_id=TEXT)
def test_item_ids(api: httpx.Client, raw_id: str) -> None:
    path = "/api/cities/" + quote(raw_id, safe="")
    if not raw_id or raw_id in {".", ".."}:
        return  # these name other routes (or none): not an id
    assert_clean(api.get(path), {200, 400, 404})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
CITY_FIELDS = ["city_name", "country", "state", "country_code", "population", "latitude", "longitude", "timezone"]


@FUZZ
@given(body=st.dictionaries(st.sampled_from(CITY_FIELDS), JSON_VALUES, max_size=8) | JSON_VALUES)
def test_write_bodies(api: httpx.Client, auth: dict[str, str], body: object) -> None:
    response = api.post("/api/cities", content=json.dumps(body), headers={**auth, "Content-Type": "application/json"})
    assert_clean(response, {201, 400, 422})
    if response.status_code == 201:
        created = response.json()
        assert api.get(f"/api/cities/{created['id']}").json() == created


@FUZZ
@given(raw=st.binary(max_size=300))
def test_raw_bytes_as_body(api: httpx.Client, auth: dict[str, str], raw: bytes) -> None:
    response = api.patch("/api/cities/3", content=raw, headers={**auth, "Content-Type": "application/json"})
    assert_clean(response, {200, 400, 422})


@pytest.mark.parametrize("injection", SQL_INJECTIONS)
def test_sql_injection_strings_are_just_text(api: httpx.Client, injection: str) -> None:
    for name in ("country", "state", "q"):
        response = api.get("/api/cities", params={name: injection})
        assert (response.status_code, response.json()) == (200, [])
    assert api.get("/api/cities/1").json()["city_name"] == "Shanghai"
