"""`cityscale up` waits for each API instance to be ready to serve (`/readyz`), not merely alive."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cityscale.stack import supervisor
from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.process import StartupError
from cityscale.stack.supervisor import Stack
from cityscale.stack.topology import Topology


class AliveButNotReady(BaseHTTPRequestHandler):
    """An instance whose databases are all unreachable: /healthz 200, /readyz 503 (as the service answers)."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_ready_instance(tmp_path: Path) -> Iterator[ApiInstance]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AliveButNotReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # Never started: wait_ready only polls its URL (a real instance's database cannot be down at
        # start, `serve` refuses to start then; it goes down later, and /readyz says so).
        yield ApiInstance("api-1", port=server.server_address[1], env={}, log_path=tmp_path / "api-1.log")
    finally:
        server.shutdown()
        server.server_close()


def test_alive_is_not_ready(not_ready_instance: ApiInstance) -> None:
    not_ready_instance.wait_ready(timeout=10)  # /healthz by default: the process answers
    with pytest.raises(StartupError, match=r"/readyz not ready after 1 s \(status 503\)"):
        not_ready_instance.wait_ready(timeout=1, path="/readyz")


class RecordingInstance:
    """Stands in for ApiInstance inside Stack._start_apis: records the order of calls."""

    calls: ClassVar[list[tuple[str, str, dict[str, Any]]]] = []

    def __init__(self, name: str, **_kwargs: object) -> None:
        self.name = name

    def start(self) -> None:
        self.calls.append(("start", self.name, {}))

    def wait_ready(self, **kwargs: Any) -> None:
        self.calls.append(("wait_ready", self.name, kwargs))


def test_up_starts_and_records_every_instance_then_waits_for_each_one_s_readyz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(Topology(data_dir=tmp_path, instances=2), say=lambda _: None)
    monkeypatch.setattr(supervisor, "ApiInstance", RecordingInstance)
    monkeypatch.setattr(stack, "instance_env", lambda _token: {})
    monkeypatch.setattr(stack, "_write_state", lambda: RecordingInstance.calls.append(("write_state", "", {})))
    RecordingInstance.calls = []
    stack._start_apis({"api-1": 1, "api-2": 2}, "token")
    assert [(call, name) for call, name, _ in RecordingInstance.calls] == [
        ("start", "api-1"),
        ("start", "api-2"),  # they boot in parallel
        ("write_state", ""),  # on record before the wait: an `up` killed now leaves no unknown process
        ("wait_ready", "api-1"),
        ("wait_ready", "api-2"),
    ]
    assert all(kwargs.get("path") == "/readyz" for call, _, kwargs in RecordingInstance.calls if call == "wait_ready")
