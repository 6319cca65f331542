"""A private Redis server configured as a cache (no persistence, bounded memory, LRU eviction)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from cityscale.stack.binaries import require_binary
from cityscale.stack.ports import free_port
from cityscale.stack.process import ManagedProcess, StartupError


class RedisServer(ManagedProcess):
    """`redis-server` on 127.0.0.1:`port`; losing it loses nothing (it only ever holds cache)."""

    def __init__(self, base: Path, *, port: int | None = None, maxmemory: str = "256mb") -> None:
        self.base = base
        self.port = port or free_port()
        binary = require_binary("redis-server", "redis-server")
        argv = [
            str(binary), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
            "--maxmemory", maxmemory, "--maxmemory-policy", "allkeys-lru", "--dir", str(base),
            "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning",
        ]  # fmt: skip
        super().__init__(f"redis-{self.port}", argv, log_path=base / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        super().start()

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise StartupError(f"redis-server exited; log: {self.log_path}")
            if self.ping():
                return
            time.sleep(0.05)
        raise StartupError(f"redis-server on port {self.port} not ready after {timeout:g} s")

    def ping(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel and never answered (a blackhole)."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)
