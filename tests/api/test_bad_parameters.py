"""The issue's list of bad inputs, one by one: each is a 400 problem+json that names what was wrong.

(tests/api/test_hostile_input.py fuzzes the same space; these are the cases a reviewer reads.)
"""

from __future__ import annotations

import httpx
import pytest

from cityscale.api.params import MAX_ID

PROBLEM = "application/problem+json"

BAD_IDS = ["0", "-1", "abc", "1.5", "1e3", " 1", "0x10", "\u0661", str(MAX_ID + 1), "9" * 40]


@pytest.mark.parametrize("raw_id", BAD_IDS)
def test_bad_ids_are_400_invalid_id(api: httpx.Client, auth: dict[str, str], raw_id: str) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = api.request(method, f"/api/cities/{raw_id}", json={"population": 1}, headers=auth)
        assert response.status_code == 400, (method, response.text)
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"] == "urn:cityscale:problem:invalid-id"
        assert "city id must be" in problem["detail"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit must be an integer between 1 and 1000, got 0"),
        ({"limit": "-1"}, "limit must be an integer between 1 and 1000"),
        ({"limit": "1001"}, "limit must be an integer between 1 and 1000, got 1001"),
        ({"limit": str(10**9)}, "limit must be an integer between 1 and 1000, got 1000000000"),
        ({"limit": "9" * 40}, "limit must be an integer between 1 and 1000"),
        ({"limit": "ten"}, "limit must be an integer"),
        ({"limit": ""}, "limit must be an integer"),
        ({"min_population": "-5"}, "min_population must be an integer between 0 and"),
        ({"min_population": "1e6"}, "min_population must be an integer"),
        ({"country": ""}, "country must not be empty"),
        ({"q": "a\x00b"}, "q must not contain NUL characters"),
        ({"state": "x" * 101}, "state is longer than 100 characters"),
        ({"page": "2"}, "unknown query parameter 'page'"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(
    api: httpx.Client, params: dict[str, str], named: str
) -> None:
    response = api.get("/api/cities", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert named in response.json()["detail"]


def test_limit_bounds_that_are_allowed(api: httpx.Client) -> None:
    assert len(api.get("/api/cities").json()) == 50  # the default
    assert len(api.get("/api/cities", params={"limit": "1000"}).json()) == 1000  # the maximum
    assert len(api.get("/api/cities", params={"limit": "1"}).json()) == 1
