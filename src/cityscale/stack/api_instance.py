"""One `cityscale serve` instance as a child process (used by `cityscale up` and the tests)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from cityscale.stack.process import ManagedProcess, wait_for_http


class ApiInstance(ManagedProcess):
    def __init__(
        self,
        name: str,
        *,
        port: int,
        env: Mapping[str, str],
        log_path: Path,
        host: str = "127.0.0.1",
        workers: int = 1,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.host = host
        self.port = port
        argv = [
            sys.executable,
            "-m",
            "cityscale",
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            *extra_args,
        ]
        # The instance gets exactly the configuration it is given, plus what a process needs to run.
        base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH"}}
        super().__init__(name, argv, log_path=log_path, env={**base, **env})

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        wait_for_http(f"{self.url}/healthz", timeout=timeout, process=self)
