"""Hostile HTTP against one instance: odd methods, traversal, huge headers; the token stays secret."""

from __future__ import annotations

import hmac
import socket
import time
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from cityscale.api.auth import BearerAuth
from cityscale.api.problems import Problem
from tests.conftest import API_TOKEN


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "OPTIONS", "FOO"])
def test_odd_methods_are_refused_with_allow(api: httpx.Client, method: str) -> None:
    response = api.request(method, "/api/cities/1")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "PATCH", "DELETE"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/cities/../../etc/passwd",
        "/api/cities/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/cities/1/../../../x",
        "/..%2f..%2fetc/passwd",
        "/api/cities/1%00",
        "/api/cities/%c0%ae%c0%ae",
    ],
)
def test_path_traversal_finds_nothing(api: httpx.Client, path: str) -> None:
    with socket.create_connection(("127.0.0.1", int(str(api.base_url).rsplit(":", 1)[1]))) as sock:
        # Raw bytes: an HTTP client would normalize the dots away before sending.
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status in {400, 404}, answer[:300]
    assert b"root:" not in answer


def test_oversized_headers_are_refused_not_crashed(api: httpx.Client) -> None:
    # granian bounds a connection's read buffer (~400 KB); nginx in front allows far less (4 x 8 KB).
    try:
        status = api.get("/api/cities/1", headers={"X-Big": "a" * 1_000_000}).status_code
    except httpx.RemoteProtocolError:
        status = 0  # the server closed the connection instead of answering: refused too
    assert status == 0 or 400 <= status < 500
    assert api.get("/api/cities/1").status_code == 200


def test_the_token_never_appears_in_logs(module_database_url: str, scratch: Path) -> None:
    from tests.support.servers import api_instance

    env = {"DATABASE_URL": module_database_url, "API_TOKEN": API_TOKEN, "LOG_LEVEL": "debug"}
    with api_instance(env, scratch / "logs") as instance:
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        httpx.post(f"{instance.url}/api/cities", json={"city_name": "Logged", "country": "X"}, headers=auth)
        httpx.post(f"{instance.url}/api/cities", json={"city_name": "Logged"}, headers=auth)
        httpx.delete(f"{instance.url}/api/cities/1?token={API_TOKEN[:4]}", headers={"Authorization": "Bearer no"})
        time.sleep(0.3)
    log = instance.log_path.read_text()
    assert '"method":"POST"' in log
    assert API_TOKEN not in log


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("cityscale.api.auth.hmac.compare_digest", spy)
    auth = BearerAuth("s3cret-value")
    for given in ("s3cret-value", "s3cret-valuX", "x"):
        scope = {"type": "http", "headers": [(b"authorization", f"Bearer {given}".encode())]}
        try:
            auth.require(Request(scope))
            accepted = True
        except Problem:
            accepted = False
        assert accepted is (given == "s3cret-value")
    assert [a for a, _ in calls] == [b"s3cret-value", b"s3cret-valuX", b"x"]
