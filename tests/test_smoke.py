"""The service end to end on a real database: the shape of the first answers."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.servers import api_instance


def test_serves_real_cities(api_env: dict[str, str], scratch: Path) -> None:
    with api_instance(api_env, scratch / "logs") as api:
        response = httpx.get(f"{api.url}/api/cities/1")
        assert response.status_code == 200
        city = response.json()
        assert city["city_name"] == "Shanghai"
        assert list(city)[:4] == ["id", "state", "country", "city_name"]
