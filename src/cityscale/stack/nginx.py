"""nginx in front of the API instances: the configuration renderer and the `NginxServer` process.

One template (`nginx.conf.j2`) serves both deployments:

- `cityscale up`: `NginxParams.native(...)`, a static `upstream` block of loopback instances with keepalive,
  everything (pid, temp files, logs) under the stack's data directory;
- Docker Compose: `NginxParams.compose(...)`, the instances found by service name through Docker's
  resolver (127.0.0.11) at request time, logs on stdout/stderr.

Every rendered file must pass `nginx -t` (`check_config`); the tests check both variants. The Compose
variant is committed as deploy/nginx/compose.conf; regenerate it with

    uv run python -m cityscale.stack.nginx --compose > deploy/nginx/compose.conf
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from cityscale.stack.binaries import require_binary
from cityscale.stack.process import ManagedProcess, StartupError, tail

TEMPLATE_NAME = "nginx.conf.j2"
STATUS_PATH = "/nginx_status"


class NginxConfigError(RuntimeError):
    """A rendered configuration that `nginx -t` rejects; the message carries nginx's own words."""


@dataclass(frozen=True)
class NginxParams:
    """Everything the template needs. Build it with `native()` or `compose()` rather than by hand."""

    listen: str
    status_listen: str
    pid_path: str
    temp_dir: str
    access_log: str
    error_log: str
    upstream_servers: tuple[str, ...] = ()
    resolver: str | None = None
    dynamic_upstream: str | None = None
    status_allow: tuple[str, ...] = ("127.0.0.1",)
    worker_processes: str = "auto"
    worker_connections: int = 1024
    client_max_body_size: str = "64k"
    connect_timeout: str = "1s"
    read_timeout: str = "30s"
    # How long a client may take to send its headers, each part of its body, or to read our answer.
    client_timeout: str = "10s"
    rate_limit_enabled: bool = False
    rate_limit_per_second: int = 100
    rate_limit_burst: int = 200
    foreground: bool = True  # `daemon off;` in the file (the nginx image passes it with -g instead)
    # nginx answers hot reads itself for as long as the API's Cache-Control allows (max-age=1); 0: off.
    microcache: bool = True

    def __post_init__(self) -> None:
        if bool(self.resolver) == bool(self.upstream_servers):
            raise ValueError("give either upstream_servers (static) or resolver + dynamic_upstream (by name)")
        if self.resolver and not self.dynamic_upstream:
            raise ValueError("a resolver needs dynamic_upstream, the host:port to resolve")
        if self.listen == self.status_listen:
            # nginx would accept both servers on one socket and route every request to the first:
            # the status page would never answer, and readiness would time out with no clue why.
            raise ValueError(f"the public and the status listen addresses are both {self.listen}")

    @classmethod
    def native(
        cls,
        prefix: Path,
        *,
        port: int,
        status_port: int,
        instance_ports: Sequence[int],
        worker_processes: str = "auto",
        rate_limit_per_second: int | None = None,
    ) -> NginxParams:
        """The `cityscale up` variant: loopback instances, every file under `prefix`.

        `rate_limit_per_second`: requests per second per client address, with a burst of as many again
        answered at once; beyond it, 429. None (the default): no limit.
        """
        params = cls(
            listen=f"127.0.0.1:{port}",
            status_listen=f"127.0.0.1:{status_port}",
            pid_path=str(prefix / "nginx.pid"),
            temp_dir=str(prefix / "temp"),
            access_log=str(prefix / "logs" / "access.log"),
            error_log=str(prefix / "logs" / "error.log"),
            upstream_servers=tuple(f"127.0.0.1:{p}" for p in instance_ports),
            worker_processes=worker_processes,
        )
        if rate_limit_per_second is None:
            return params
        return dataclasses.replace(
            params,
            rate_limit_enabled=True,
            rate_limit_per_second=rate_limit_per_second,
            rate_limit_burst=rate_limit_per_second,
        )

    @classmethod
    def compose(
        cls,
        *,
        api_service: str = "api",
        api_port: int = 3000,
        port: int = 8080,
        status_port: int = 8081,
        rate_limit_enabled: bool = False,
    ) -> NginxParams:
        """The Docker Compose variant: the `api_service` replicas found through Docker's DNS at request time.

        Unprivileged ports and /tmp paths, so the container runs as a non-root user; logs go to the
        container's stdout/stderr. stub_status answers private networks (Prometheus' exporter container).
        """
        return cls(
            listen=str(port),
            status_listen=str(status_port),
            pid_path="/tmp/nginx.pid",  # noqa: S108 - inside the container, its own /tmp
            temp_dir="/tmp",  # noqa: S108 - nginx makes one directory level itself
            access_log="/dev/stdout",
            error_log="stderr",
            resolver="127.0.0.11",
            dynamic_upstream=f"{api_service}:{api_port}",
            status_allow=("127.0.0.1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
            foreground=False,  # the official image's command is `nginx -g 'daemon off;'`; twice is an error
            rate_limit_enabled=rate_limit_enabled,
        )


def render(params: NginxParams) -> str:
    """The nginx.conf text for `params` (a missing parameter is an error, never an empty string)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cityscale.stack", ""),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - nginx configuration, not HTML
    )
    return environment.get_template(TEMPLATE_NAME).render(**params.__dict__)


def nginx_binary() -> Path:
    return require_binary("nginx", "nginx")


def check_config(conf_path: Path, *, prefix: Path | None = None, global_directives: str | None = None) -> None:
    """Run `nginx -t` on a file; raise `NginxConfigError` with nginx's message when it is rejected.

    `global_directives` is what a launcher passes with `-g` (the nginx image: "daemon off;").
    """
    argv = [str(nginx_binary()), "-t", "-q", "-c", str(conf_path)]
    if global_directives:
        argv += ["-g", global_directives]
    if prefix is not None:
        # -e: errors before the configuration is read go to our prefix, not /var/log/nginx.
        argv += ["-p", str(prefix), "-e", str(prefix / "logs" / "error.log")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise NginxConfigError(f"nginx -t rejected {conf_path}: {result.stderr.strip()}")


class NginxServer(ManagedProcess):
    """nginx in the foreground (`daemon off`) with its own prefix: config, pid, temp files and logs inside it."""

    # Graceful: stop accepting, let in-flight requests finish (SIGTERM would cut them off).
    stop_signal = signal.SIGQUIT

    def __init__(self, prefix: Path, params: NginxParams) -> None:
        self.prefix = prefix
        self.params = params
        self.conf_path = prefix / "nginx.conf"
        self.error_log = prefix / "logs" / "error.log"
        self.access_log = prefix / "logs" / "access.log"
        argv = [str(nginx_binary()), "-p", str(prefix), "-c", str(self.conf_path), "-e", str(self.error_log)]
        super().__init__("nginx", argv, log_path=prefix / "logs" / "nginx.out")

    @property
    def port(self) -> int:
        return int(self.params.listen.rsplit(":", 1)[-1])

    @property
    def status_port(self) -> int:
        return int(self.params.status_listen.rsplit(":", 1)[-1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:{self.status_port}{STATUS_PATH}"

    def write_config(self) -> None:
        """Render the configuration into the prefix and check it with `nginx -t` before it is used."""
        for sub in ("logs", "temp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(render(self.params))
        check_config(self.conf_path, prefix=self.prefix)

    def start(self) -> None:
        self.write_config()
        super().start()

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise StartupError(f"nginx exited; its error log ({self.error_log}) ends with:\n{tail(self.error_log)}")
            if self._owns_pid_file() and self.healthy():
                return
            time.sleep(0.05)
        raise StartupError(
            f"nginx on port {self.port} not ready after {timeout:g} s: its status page {self.status_url} "
            f"did not answer (pid file {'written' if self._owns_pid_file() else 'not written'}); "
            f"its error log ({self.error_log}) ends with:\n{tail(self.error_log)}"
        )

    def _owns_pid_file(self) -> bool:
        # nginx writes its pid file only once it has bound its ports: proof that the status page that
        # answers is this nginx's, not another one's on the same port.
        try:
            return int(Path(self.params.pid_path).read_text().strip()) == self.pid
        except (OSError, ValueError):
            return False

    def healthy(self, timeout: float = 1) -> bool:
        """nginx answers its internal status page (the public port depends on the instances behind it)."""
        return status_page_answers(self.status_url, timeout=timeout)


def status_page_answers(url: str, *, timeout: float = 1) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our loopback URL
            return bool(response.status == 200 and b"Active connections" in response.read())
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> None:
    """Print the Compose variant of the configuration (`python -m cityscale.stack.nginx --compose`)."""
    parser = argparse.ArgumentParser(description="Render cityscale's nginx configuration for Docker Compose.")
    parser.add_argument("--compose", action="store_true", required=True, help="the Compose variant")
    parser.add_argument("--api-service", default="api", help="the API's Compose service name [api]")
    parser.add_argument("--api-port", type=int, default=3000, help="the port the API listens on [3000]")
    parser.add_argument("--port", type=int, default=8080, help="nginx's public port in the container [8080]")
    parser.add_argument("--status-port", type=int, default=8081, help="the stub_status port [8081]")
    args = parser.parse_args(argv)
    params = NginxParams.compose(
        api_service=args.api_service, api_port=args.api_port, port=args.port, status_port=args.status_port
    )
    print(render(params), end="")


if __name__ == "__main__":
    main()
