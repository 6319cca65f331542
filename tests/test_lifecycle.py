"""Start-up and shutdown: config errors in one line, SIGTERM drains in-flight requests and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest

from cityscale.stack.ports import free_port
from tests.support.locks import cities_locked
from tests.support.servers import api_instance


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DB_PORT", "abc", "configuration error: DB_PORT='abc': Input should be a valid integer"),
        ("DB_CONNECT_TIMEOUT", "0.1", "configuration error: DB_CONNECT_TIMEOUT='0.1': 0.1 s is below the sane floor"),
        ("DB_POOL_MAX", "0", "configuration error: DB_POOL_MAX='0': Input should be greater than or equal to 1"),
        ("DATABASE_URL", "mysql://x/y", "configuration error: DATABASE_URL: must be a postgresql:// URL"),
        ("REDIS_URL", "http://x", "configuration error: REDIS_URL='http://x': must start with redis://"),
        ("LOG_LEVEL", "loud", "configuration error: LOG_LEVEL='loud': must be one of debug"),
    ],
)
def test_configuration_errors_are_one_line_naming_the_variable(variable: str, value: str, message: str) -> None:
    env = {**os.environ, variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "cityscale", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cityscale: {message}")


def test_secrets_are_not_echoed_in_configuration_errors() -> None:
    env = {**os.environ, "DATABASE_URL": "mysql://user:hunter2@host/db"}
    result = subprocess.run(
        [sys.executable, "-m", "cityscale", "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "hunter2" not in result.stderr


async def test_sigterm_lets_in_flight_requests_finish_then_exits_zero(database_url: str, scratch: Path) -> None:
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "warning", "DB_STATEMENT_TIMEOUT": "10"}
    with api_instance(env, scratch / "logs") as api:
        async with cities_locked(database_url) as lock, httpx.AsyncClient(base_url=api.url, timeout=20) as client:
            in_flight = asyncio.create_task(client.get("/api/cities/1"))
            await asyncio.sleep(0.5)  # the request is now waiting on the lock inside the server
            api.signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            await lock.release()
            response = await in_flight
        assert response.status_code == 200
        assert response.json()["city_name"] == "Shanghai"
        assert api.process is not None
        assert api.process.wait(20) == 0
        # The pool was closed on the way out: no session of the app is left on the server.
        conn = await asyncpg.connect(database_url)
        try:
            deadline = time.monotonic() + 5
            while await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cityscale'"):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        finally:
            await conn.close()


def test_access_log_has_the_original_fields_and_the_request_id(database_url: str, scratch: Path) -> None:
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    with api_instance(env, scratch / "logs") as api:
        httpx.get(f"{api.url}/api/cities?limit=1", headers={"X-Request-ID": "trace-me-42"})
        httpx.get(f"{api.url}/api/cities/0")
        time.sleep(0.2)
    lines = [orjson.loads(line) for line in api.log_path.read_text().splitlines() if line.startswith("{")]
    traced = next(line for line in lines if line["requestId"] == "trace-me-42")
    assert set(traced) == {"timestamp", "method", "url", "clientIp", "host", "status", "durationMs", "requestId"}
    assert (traced["method"], traced["url"], traced["status"], traced["clientIp"]) == (
        "GET",
        "/api/cities?limit=1",
        200,
        "127.0.0.1",
    )
    assert traced["timestamp"].endswith("Z")
    assert isinstance(traced["durationMs"], float)
    assert any(line["url"] == "/api/cities/0" and line["status"] == 400 for line in lines)
