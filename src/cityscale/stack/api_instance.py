"""One `cityscale serve` instance as a child process (used by `cityscale up` and the tests)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cityscale.stack.process import ManagedProcess, wait_for_http


def instance_env(
    *, primary_url: str, replica_urls: Sequence[str], redis_url: str, token: str, log_level: str
) -> dict[str, str]:
    """The full configuration an API instance of a stack gets (DESIGN.md section 2).

    Everything the stack has is passed, whether or not the service uses it yet: the primary both as
    `DATABASE_URL` and as the original service's `DB_HOST`/`DB_PORT`/`DB_USER`/`DB_PASSWORD`/`DB_NAME`
    (tools and scripts that read the instance's environment find the database either way), every
    replica, Redis, the write token and the log level.
    """
    primary = urlsplit(primary_url)
    return {
        "DATABASE_URL": primary_url,
        "DB_HOST": primary.hostname or "127.0.0.1",
        "DB_PORT": str(primary.port or 5432),
        "DB_USER": unquote(primary.username or ""),
        "DB_PASSWORD": unquote(primary.password or ""),
        "DB_NAME": unquote(primary.path.lstrip("/")),
        "DB_REPLICA_URLS": ",".join(replica_urls),
        "REDIS_URL": redis_url,
        "API_TOKEN": token,
        "LOG_LEVEL": log_level,
    }


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

    def wait_ready(self, timeout: float = 30, *, path: str = "/healthz") -> None:
        """Until `path` answers 200: `/healthz` (the process serves HTTP) by default, `/readyz` for an
        instance that must also reach its databases (what `cityscale up` waits for)."""
        wait_for_http(f"{self.url}{path}", timeout=timeout, process=self)
