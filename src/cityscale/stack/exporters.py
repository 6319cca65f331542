"""Prometheus exporters for the native stack, from Debian's packages, started only when installed.

`prometheus-nginx-exporter` reads nginx's stub_status, `prometheus-postgres-exporter` one PostgreSQL
server (one exporter per server, labelled `server` by Prometheus), `prometheus-redis-exporter` Redis.
Each listens on 127.0.0.1 only. Monitoring never blocks the stack: a missing or failing exporter is
reported in one line and left out.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cityscale.stack.process import ManagedProcess, StartupError, wait_for_http

NGINX_EXPORTER = ("prometheus-nginx-exporter", "prometheus-nginx-exporter")  # (binary, Debian package)
POSTGRES_EXPORTER = ("prometheus-postgres-exporter", "prometheus-postgres-exporter")
REDIS_EXPORTER = ("prometheus-redis-exporter", "prometheus-redis-exporter")


class Exporter(ManagedProcess):
    """One exporter process on 127.0.0.1:`port`."""

    def __init__(
        self, name: str, argv: Sequence[str], *, port: int, log_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.port = port
        base_env = {"PATH": "/usr/bin:/bin"}
        super().__init__(name, argv, log_path=log_dir / f"{name}.log", env={**base_env, **(env or {})})

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 10) -> None:
        wait_for_http(f"http://{self.address}/metrics", timeout=timeout, process=self)


def _binary(spec: tuple[str, str]) -> str | None:
    return shutil.which(spec[0]) or shutil.which(spec[0], path="/usr/bin:/usr/sbin")


def missing_exporters() -> list[str]:
    """Debian packages of the exporters that are not installed."""
    return [spec[1] for spec in (NGINX_EXPORTER, POSTGRES_EXPORTER, REDIS_EXPORTER) if _binary(spec) is None]


def nginx_exporter(port: int, status_url: str, log_dir: Path) -> Exporter | None:
    binary = _binary(NGINX_EXPORTER)
    if binary is None:
        return None
    argv = [binary, f"-nginx.scrape-uri={status_url}", f"-web.listen-address=127.0.0.1:{port}"]
    return Exporter("nginx-exporter", argv, port=port, log_dir=log_dir)


def postgres_exporter(name: str, port: int, dsn: str, log_dir: Path) -> Exporter | None:
    binary = _binary(POSTGRES_EXPORTER)
    if binary is None:
        return None
    argv = [binary, f"--web.listen-address=127.0.0.1:{port}"]
    # The DSN goes through the environment, as the exporter expects, not the command line (ps shows that).
    return Exporter(name, argv, port=port, log_dir=log_dir, env={"DATA_SOURCE_NAME": dsn})


def redis_exporter(port: int, redis_url: str, log_dir: Path) -> Exporter | None:
    binary = _binary(REDIS_EXPORTER)
    if binary is None:
        return None
    argv = [binary, f"-redis.addr={redis_url}", f"-web.listen-address=127.0.0.1:{port}"]
    return Exporter("redis-exporter", argv, port=port, log_dir=log_dir)


def start_all(exporters: Sequence[Exporter | None], *, say: Callable[[str], None]) -> list[Exporter]:
    """Start the given exporters; those that do not become ready are stopped and reported, not fatal."""
    started = []
    for exporter in exporters:
        if exporter is None:
            continue
        exporter.start()
        try:
            exporter.wait_ready()
        except StartupError as exc:
            exporter.stop()
            say(f"{exporter.name} did not start, continuing without it: {str(exc).splitlines()[0]}")
            continue
        started.append(exporter)
    return started


def answers_metrics(port: int, *, timeout: float = 1) -> bool:
    """Whether an exporter on 127.0.0.1:`port` serves /metrics (for `cityscale status`)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False
