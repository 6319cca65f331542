"""Configuration from the environment: the original's DB_* variables, DATABASE_URL first, bad values named.

The unit tests read a mapping; the process tests run `cityscale serve` with a real environment, since that
is the path (pydantic-settings reading os.environ) a deployment takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from cityscale.settings import MIN_TIMEOUT_SECONDS, ConfigError, load_settings
from cityscale.stack.ports import free_port
from tests.support.servers import api_instance


def db_parts(url: str) -> dict[str, str]:
    """A test database's URL as the original service's variables."""
    parts = urlsplit(url)
    return {
        "DB_HOST": str(parts.hostname),
        "DB_PORT": str(parts.port),
        "DB_USER": unquote(str(parts.username)),
        "DB_PASSWORD": unquote(str(parts.password)),
        "DB_NAME": parts.path.lstrip("/"),
    }


def test_db_parts_make_the_url_with_awkward_passwords_quoted() -> None:
    settings = load_settings(
        {"DB_HOST": "db", "DB_PORT": "6543", "DB_USER": "app user", "DB_PASSWORD": "p@ss:w/rd%", "DB_NAME": "cities"}
    )
    assert settings.database_configured
    assert settings.primary_url == "postgresql://app%20user:p%40ss%3Aw%2Frd%25@db:6543/cities"
    parsed = urlsplit(settings.primary_url)
    assert (unquote(parsed.password or ""), parsed.port) == ("p@ss:w/rd%", 6543)


def test_defaults_are_the_original_services() -> None:
    settings = load_settings({"DB_HOST": "db"})
    assert settings.primary_url == "postgresql://postgres@db:5432/cities"
    assert settings.DB_CONNECT_TIMEOUT == 2.0  # not the original's 100 ms
    assert not load_settings({}).database_configured  # nothing set: the embedded database


def test_database_url_takes_precedence_over_the_parts() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://u:p@primary:5433/x", "DB_HOST": "other", "DB_PORT": "1"})
    assert settings.primary_url == "postgresql://u:p@primary:5433/x"


def test_empty_variables_count_as_unset() -> None:
    # `DB_PORT=` in an env file is "not set", not "port zero".
    settings = load_settings({"DB_HOST": "db", "DB_PORT": "", "DATABASE_URL": ""})
    assert settings.primary_url == "postgresql://postgres@db:5432/cities"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DB_PORT", "abc", "DB_PORT='abc'"),
        ("DB_PORT", "0", "DB_PORT='0'"),
        ("DB_PORT", "70000", "DB_PORT='70000'"),
        ("DB_CONNECT_TIMEOUT", "0.1", f"below the sane floor of {MIN_TIMEOUT_SECONDS:g} s"),
        ("DB_ACQUIRE_TIMEOUT", "0.01", "DB_ACQUIRE_TIMEOUT='0.01': 0.01 s is below the sane floor"),
        ("DB_STATEMENT_TIMEOUT", "0", "DB_STATEMENT_TIMEOUT='0'"),
        ("DB_CONNECT_TIMEOUT", "nan", "DB_CONNECT_TIMEOUT='nan'"),
        ("DB_CONNECT_TIMEOUT", "soon", "DB_CONNECT_TIMEOUT='soon'"),
        ("DB_POOL_MAX", "-3", "DB_POOL_MAX='-3'"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DB_HOST": "db", variable: value})
    message = str(caught.value)
    assert message.startswith(f"configuration error: {variable}")
    assert expected in message
    assert "\n" not in message


def test_pool_bounds_across_two_variables_name_both() -> None:
    with pytest.raises(ConfigError, match=r"DB_POOL_MIN \(20\) is larger than DB_POOL_MAX \(5\)"):
        load_settings({"DB_POOL_MIN": "20", "DB_POOL_MAX": "5"})


def test_serve_uses_the_original_db_variables(database_url: str, scratch: Path) -> None:
    with api_instance({**db_parts(database_url), "LOG_LEVEL": "warning"}, scratch / "logs") as api:
        city = httpx.get(f"{api.url}/api/cities/1", timeout=10).json()
    assert city["city_name"] == "Shanghai"


def test_serve_prefers_database_url_over_db_variables(database_url: str, scratch: Path) -> None:
    # The parts point at a port where nothing listens: serving at all proves DATABASE_URL won.
    wrong_parts = {**db_parts(database_url), "DB_PORT": str(free_port()), "DB_NAME": "nowhere"}
    env = {**wrong_parts, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    with api_instance(env, scratch / "logs") as api:
        response = httpx.get(f"{api.url}/api/cities/1", timeout=10)
    assert response.json()["city_name"] == "Shanghai"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DB_PORT", "five"), ("DB_ACQUIRE_TIMEOUT", "0.05"), ("DB_STATEMENT_TIMEOUT", "0.1")],
)
def test_serve_stops_at_startup_with_one_line_naming_the_variable(variable: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_") and k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "cityscale", "serve", "--port", str(free_port())],
        env={**env, "DB_HOST": "127.0.0.1", variable: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line, no traceback
    assert result.stderr.startswith(f"cityscale: configuration error: {variable}={value!r}: ")
