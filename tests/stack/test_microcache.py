"""nginx's microcache in front of a real API instance: hits, per-request ids, and never at the cost of
read-your-writes or the one-to-two-second write-visibility bound."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cityscale.stack.nginx import NginxParams, NginxServer
from cityscale.stack.ports import free_ports
from tests.conftest import API_TOKEN
from tests.support.servers import api_instance, remove, scratch_dir

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def front(database_url: str, scratch: Path) -> Iterator[str]:
    env = {"DATABASE_URL": database_url, "API_TOKEN": API_TOKEN, "LOG_LEVEL": "warning"}
    prefix = scratch_dir("microcache")
    public_port, status_port = free_ports(2)
    with api_instance(env, scratch / "logs") as api:
        nginx = NginxServer(
            prefix, NginxParams.native(prefix, port=public_port, status_port=status_port, instance_ports=[api.port])
        )
        nginx.start()
        try:
            nginx.wait_ready()
            yield nginx.url
        finally:
            nginx.stop()
            remove(prefix)


def test_hot_reads_are_answered_by_nginx_with_their_own_request_id(front: str) -> None:
    with httpx.Client(base_url=front) as client:
        first = client.get("/api/cities/3", headers={"X-Request-ID": "first-one"})
        second = client.get("/api/cities/3", headers={"X-Request-ID": "second-one"})
        assert (first.headers["x-micro-cache"], second.headers["x-micro-cache"]) == ("MISS", "HIT")
        assert second.content == first.content
        assert (first.headers["x-request-id"], second.headers["x-request-id"]) == ("first-one", "second-one")
        assert client.get("/readyz").headers["x-micro-cache"] != "HIT"  # no-store is honoured
        assert client.get("/readyz").headers["x-micro-cache"] != "HIT"


def test_clients_with_a_token_or_credentials_bypass_it(front: str) -> None:
    with httpx.Client(base_url=front) as client:
        client.get("/api/cities/4")
        assert client.get("/api/cities/4").headers["x-micro-cache"] == "HIT"
        with_header = client.get("/api/cities/4", headers={"X-Cityscale-LSN": "1"})
        with_cookie = client.get("/api/cities/4", headers={"Cookie": "cityscale_lsn=1"})
        with_auth = client.get("/api/cities/4", headers=AUTH)
        assert {r.headers["x-micro-cache"] for r in (with_header, with_cookie, with_auth)} == {"BYPASS"}


def test_writes_stay_visible(front: str) -> None:
    with httpx.Client(base_url=front) as client:
        client.get("/api/cities/6")
        assert client.get("/api/cities/6").headers["x-micro-cache"] == "HIT"
        written = client.patch("/api/cities/6", json={"city_name": "Microcached"}, headers=AUTH)
        assert written.status_code == 200
        assert "set-cookie" in written.headers
        # The writer (it keeps the cookie) sees its write at once ...
        assert client.get("/api/cities/6").json()["city_name"] == "Microcached"
    # ... and everyone else within the bound: nginx's 1 s plus the instance's own.
    deadline = time.monotonic() + 2.5
    while httpx.get(f"{front}/api/cities/6").json()["city_name"] != "Microcached":
        assert time.monotonic() < deadline, "a cached read outlived the write-visibility bound"
        time.sleep(0.1)


def test_writes_stay_visible_under_concurrent_reads(front: str) -> None:
    """Many readers keep the entry hot (the case where a background refresh could keep it stale)."""
    import threading

    stop = threading.Event()

    def reader() -> None:
        with httpx.Client(base_url=front, timeout=5) as client:
            while not stop.is_set():
                client.get("/api/cities/8")

    readers = [threading.Thread(target=reader, daemon=True) for _ in range(6)]
    for thread in readers:
        thread.start()
    try:
        for n in range(3):
            time.sleep(1.0)
            name = f"Hot {n}"
            assert httpx.patch(f"{front}/api/cities/8", json={"city_name": name}, headers=AUTH).status_code == 200
            written_at = time.monotonic()
            while httpx.get(f"{front}/api/cities/8").json()["city_name"] != name:
                assert time.monotonic() - written_at < 2.5, "a hot cached read outlived the write-visibility bound"
                time.sleep(0.05)
    finally:
        stop.set()
        for thread in readers:
            thread.join(5)
