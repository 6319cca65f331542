"""A real nginx (NginxServer) in front of two small backends: retries, headers, limits, internal status.

One backend drops every request it receives without answering (an instance dying mid-request), the other
answers with the headers it saw. nginx's smooth round robin sends the first request of a fresh nginx to
the first server, which is how each test makes sure the dropping backend is tried first.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from cityscale.stack.nginx import NginxParams, NginxServer
from cityscale.stack.ports import free_ports
from cityscale.stack.process import StartupError
from tests.support.logs import wait_for_lines
from tests.support.servers import remove, scratch_dir


@dataclass
class Backend:
    answers: bool
    seen: list[str] = field(default_factory=list)
    port: int = 0


def _handler(backend: Backend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            backend.seen.append(self.command)
            if not backend.answers:
                self.close_connection = True  # drop it: nginx sees the upstream close without a response
                return
            body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def running_backend(backend: Backend) -> Iterator[Backend]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(backend))
    server.daemon_threads = True
    backend.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield backend
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def nginx_in_front(*backends: Backend, **overrides: object) -> Iterator[NginxServer]:
    prefix = scratch_dir("nginx")
    public_port, status_port = free_ports(2)
    params = NginxParams.native(
        prefix, port=public_port, status_port=status_port, instance_ports=[b.port for b in backends]
    )
    params = NginxParams(**{**params.__dict__, "worker_processes": "1", **overrides})
    nginx = NginxServer(prefix, params)
    nginx.start()
    try:
        nginx.wait_ready()
        yield nginx
    finally:
        nginx.stop()
        remove(prefix)


@pytest.fixture
def backends() -> Iterator[tuple[Backend, Backend]]:
    with running_backend(Backend(answers=False)) as dropper, running_backend(Backend(answers=True)) as healthy:
        yield dropper, healthy


def test_a_get_that_an_instance_drops_is_retried_on_the_next(backends: tuple[Backend, Backend]) -> None:
    dropper, healthy = backends
    with nginx_in_front(dropper, healthy) as nginx:
        response = httpx.get(f"{nginx.url}/api/cities/1")
    assert response.status_code == 200
    assert dropper.seen == ["GET"]  # the first instance really got it, and dropped it
    assert healthy.seen == ["GET"]


def test_a_post_that_reached_an_instance_is_never_replayed(backends: tuple[Backend, Backend]) -> None:
    dropper, healthy = backends
    with nginx_in_front(dropper, healthy) as nginx:
        response = httpx.post(f"{nginx.url}/api/cities", json={"city_name": "X"})
    assert dropper.seen == ["POST"]
    assert healthy.seen == []
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert response.headers["retry-after"] == "1"


def test_request_id_and_client_address_reach_the_instance(backends: tuple[Backend, Backend]) -> None:
    _, healthy = backends
    with nginx_in_front(healthy) as nginx:
        given = httpx.get(f"{nginx.url}/x", headers={"X-Request-ID": "abc-123"}).json()["headers"]
        generated = httpx.get(f"{nginx.url}/x").json()["headers"]
        log_lines = wait_for_lines(nginx.access_log, 2)
    assert given["X-Request-ID"] == "abc-123"
    assert len(generated["X-Request-ID"]) == 32  # nginx's $request_id: 32 hex digits
    assert given["X-Real-IP"] == "127.0.0.1"
    assert given["Host"] == f"127.0.0.1:{nginx.port}"  # as the client addressed it, port included
    assert "Connection" not in given  # no "close" reaches the instance: upstream keepalive
    entries = [json.loads(line) for line in log_lines]
    assert [entry["requestId"] for entry in entries] == ["abc-123", generated["X-Request-ID"]]
    assert {entry["status"] for entry in entries} == {200}


def test_metrics_are_not_public_and_stub_status_is_internal_only(backends: tuple[Backend, Backend]) -> None:
    _, healthy = backends
    with nginx_in_front(healthy) as nginx:
        metrics = httpx.get(f"{nginx.url}/metrics")
        status_on_public = httpx.get(f"{nginx.url}/nginx_status")
        status = httpx.get(nginx.status_url)
    assert metrics.status_code == 404
    assert healthy.seen == ["GET"]  # /nginx_status went to the instance like any path; /metrics did not
    assert status_on_public.json()["path"] == "/nginx_status"
    assert status.status_code == 200
    assert "Active connections" in status.text


def test_bodies_over_the_limit_are_refused_at_the_edge(backends: tuple[Backend, Backend]) -> None:
    _, healthy = backends
    with nginx_in_front(healthy) as nginx:
        response = httpx.post(f"{nginx.url}/api/cities", content=b"x" * (65 * 1024))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert healthy.seen == []


def test_rate_limit_when_enabled_answers_429(backends: tuple[Backend, Backend]) -> None:
    _, healthy = backends
    with nginx_in_front(healthy, rate_limit_enabled=True, rate_limit_per_second=1, rate_limit_burst=1) as nginx:
        statuses = [httpx.get(f"{nginx.url}/x").status_code for _ in range(5)]
    assert statuses[:2] == [200, 200]  # the rate's first token plus a burst of one
    assert 429 in statuses


def test_a_second_nginx_on_taken_ports_is_not_mistaken_for_ready(backends: tuple[Backend, Backend]) -> None:
    _, healthy = backends
    with nginx_in_front(healthy) as nginx:
        other_prefix = scratch_dir("nginx-second")
        second = NginxServer(other_prefix, dataclasses.replace(nginx.params, pid_path=str(other_prefix / "nginx.pid")))
        try:
            second.start()
            with pytest.raises(StartupError, match="nginx exited; its error log"):
                second.wait_ready(timeout=15)  # nginx retries bind() for about 2.5 s, then gives up
        finally:
            second.stop()
            remove(other_prefix)
        assert nginx.healthy()  # the first one is untouched


def test_slow_clients_are_cut_off_and_others_unaffected(backends: tuple[Backend, Backend]) -> None:
    """Slowloris: connections that dribble their headers are closed by nginx's client timeout, while
    ordinary clients are served at the same time."""
    import socket

    _, healthy = backends
    with nginx_in_front(healthy, client_timeout="3s") as nginx:
        slow = []
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", nginx.port), timeout=5)
            sock.sendall(b"GET /api/cities/1 HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            slow.append(sock)
        try:
            # Served while every slow connection is still open (well before nginx cuts them off at 3 s).
            for _ in range(20):
                assert httpx.get(f"{nginx.url}/api/cities/1", timeout=1.5).status_code == 200
            time.sleep(0.5)
            for sock in slow:  # keep dribbling: nginx's timer is for the whole header, not per byte
                sock.sendall(b"X-Slow: 1\r\n")
            closed = 0
            deadline = time.monotonic() + 8
            for sock in slow:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    continue
                closed += data == b"" or data.startswith(b"HTTP/1.1 408")
            assert closed == len(slow), f"only {closed} of {len(slow)} slow connections were cut off"
        finally:
            for sock in slow:
                sock.close()
