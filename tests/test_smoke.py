"""The service end to end on a real database: the shape of the first answers."""

from __future__ import annotations

import subprocess
import sys
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


def test_console_script_and_module_are_the_same_command() -> None:
    script = Path(sys.executable).parent / "cityscale"
    by_script = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=True)
    by_module = subprocess.run(
        [sys.executable, "-m", "cityscale", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert by_script.stdout == by_module.stdout
    assert by_script.stdout.startswith("cityscale, version ")
