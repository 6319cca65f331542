"""A private Prometheus for the native stack: a config rendered for the given targets, and its launcher.

`cityscale up` starts it only when Debian's `prometheus` is installed (`prometheus_missing_reason()`
says so, with the install command, when it is not). The rendered config scrapes every API instance's
`/metrics`, the optional exporters (nginx stub_status, PostgreSQL, Redis) and Prometheus itself, loads
the alert rules shipped in the package (`cityscale/observability/rules/`), and, when Grafana Cloud
credentials are configured in the environment, remote-writes there (the password only ever as a file path).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cityscale.stack.binaries import apt_install_command
from cityscale.stack.ports import free_port
from cityscale.stack.process import ManagedProcess, wait_for_http

SCRAPE_INTERVAL = "5s"  # a local stack: short enough to watch a load test move the graphs
RETENTION = "2d"
REMOTE_WRITE_URL_ENV = "GRAFANA_CLOUD_PROMETHEUS_URL"
REMOTE_WRITE_USER_ENV = "GRAFANA_CLOUD_PROMETHEUS_USER"
REMOTE_WRITE_PASSWORD_FILE_ENV = "GRAFANA_CLOUD_API_KEY_FILE"  # noqa: S105 - the name of a variable, not a secret
# Grafana Cloud bills active series: ship only the series the dashboard and the alert rules read, never
# the exporters' hundreds of pg_settings_*, go_* or redis_commands_* series, nor Prometheus's own.
# The same regex is in deploy/grafana-cloud/remote-write.yml and deploy/alloy/config.alloy;
# tests/observability/test_grafana_cloud.py checks all three and that it keeps every name in use.
REMOTE_WRITE_KEEP = (
    "cityscale_.*|cityscale:.*|up"
    "|nginx_.*"
    "|pg_up|pg_stat_database_numbackends|pg_settings_max_connections|pg_replication_.*"
    "|redis_up|redis_connected_clients|redis_evicted_keys_total|redis_memory_used_bytes|redis_memory_max_bytes"
    "|process_open_fds|process_resident_memory_bytes"
)


RULES_PACKAGE = "cityscale.observability"  # its `rules/` directory: alert and recording rules (package data)


def default_rules_dir() -> Path | None:
    """The alert and recording rules shipped inside the package, so an installed wheel has them too.

    Prometheus needs a directory on disk; a package installed from a wheel is one (a zipped install
    would not be, and then Prometheus runs without rules rather than not at all).
    """
    rules = resources.files(RULES_PACKAGE).joinpath("rules")
    return Path(str(rules)) if isinstance(rules, Path) and rules.is_dir() else None


class RemoteWriteConfigError(ValueError):
    """The Grafana Cloud variables are incomplete or point at nothing; the message names the variable."""


@dataclass(frozen=True)
class RemoteWrite:
    """Where to send every sample (Grafana Cloud's Prometheus endpoint), with basic auth.

    The password (a Grafana Cloud access policy token) is read by Prometheus from `password_file` at
    run time, so it never appears in a rendered config, a log line or the repository.
    """

    url: str
    username: str
    password_file: Path

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RemoteWrite | None:
        env = os.environ if environ is None else environ
        url = env.get(REMOTE_WRITE_URL_ENV, "").strip()
        user = env.get(REMOTE_WRITE_USER_ENV, "").strip()
        password_file = env.get(REMOTE_WRITE_PASSWORD_FILE_ENV, "").strip()
        if not (url or user or password_file):
            return None
        missing = [
            name
            for name, value in (
                (REMOTE_WRITE_URL_ENV, url),
                (REMOTE_WRITE_USER_ENV, user),
                (REMOTE_WRITE_PASSWORD_FILE_ENV, password_file),
            )
            if not value
        ]
        if missing:
            raise RemoteWriteConfigError(f"Grafana Cloud remote write is half configured: set {', '.join(missing)}")
        if not url.startswith("https://"):
            raise RemoteWriteConfigError(f"{REMOTE_WRITE_URL_ENV} must be an https:// URL (got {url!r})")
        if not Path(password_file).is_file():
            raise RemoteWriteConfigError(
                f"{REMOTE_WRITE_PASSWORD_FILE_ENV} points at {password_file}, which is not a readable file"
            )
        return cls(url, user, Path(password_file))


@dataclass(frozen=True)
class ScrapeTargets:
    """host:port of everything to scrape; exporters are optional (None: not running)."""

    api: Sequence[str]
    nginx_exporter: str | None = None
    postgres_exporters: Sequence[tuple[str, str]] = ()  # (server name, host:port), one per PostgreSQL server
    redis_exporter: str | None = None
    extra_labels: Mapping[str, str] = field(default_factory=dict)


def render_config(
    targets: ScrapeTargets,
    *,
    self_address: str,
    rules_dir: Path | None = None,
    remote_write: RemoteWrite | None = None,
) -> str:
    """The prometheus.yml text (JSON, which is YAML) for these targets."""
    jobs: list[dict[str, object]] = [
        _job("cityscale", targets.api, targets.extra_labels),
        _job("prometheus", [self_address], targets.extra_labels),
    ]
    for job, address in (("nginx", targets.nginx_exporter), ("redis", targets.redis_exporter)):
        if address:
            jobs.append(_job(job, [address], targets.extra_labels))
    if targets.postgres_exporters:
        jobs.append(
            {
                "job_name": "postgres",
                "static_configs": [
                    {"targets": [address], "labels": {**targets.extra_labels, "server": server}}
                    for server, address in targets.postgres_exporters
                ],
            }
        )
    config: dict[str, object] = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": jobs,
    }
    if rules_dir is not None:
        config["rule_files"] = [str(rules_dir / "*.yml")]
    if remote_write is not None:
        config["remote_write"] = [
            {
                "url": remote_write.url,
                "basic_auth": {"username": remote_write.username, "password_file": str(remote_write.password_file)},
                "write_relabel_configs": [
                    {"source_labels": ["__name__"], "regex": REMOTE_WRITE_KEEP, "action": "keep"}
                ],
            }
        ]
    header = "# Rendered by cityscale (src/cityscale/stack/prometheus.py); edits are overwritten.\n"
    return header + json.dumps(config, indent=2) + "\n"


def _job(name: str, addresses: Sequence[str], labels: Mapping[str, str]) -> dict[str, object]:
    static: dict[str, object] = {"targets": list(addresses)}
    if labels:
        static["labels"] = dict(labels)
    return {"job_name": name, "static_configs": [static]}


def prometheus_binary() -> Path | None:
    found = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/sbin:/usr/bin")
    return Path(found) if found else None


def prometheus_missing_reason() -> str | None:
    """None when Prometheus can run here; otherwise the one line `cityscale up` prints instead."""
    if prometheus_binary() is None:
        install = apt_install_command(["prometheus"])
        return f"Prometheus is not installed, so no metrics are collected; install it with: {install}"
    return None


class PrometheusServer(ManagedProcess):
    """`prometheus` on 127.0.0.1:`port`, its data and rendered config under `base`."""

    def __init__(
        self,
        base: Path,
        targets: ScrapeTargets,
        *,
        port: int | None = None,
        rules_dir: Path | None = None,
        remote_write: RemoteWrite | None = None,
    ) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise RuntimeError(prometheus_missing_reason())
        self.base = base
        self.port = port or free_port()
        self.config_path = base / "prometheus.yml"
        self.targets = targets
        self.rules_dir = rules_dir if rules_dir is not None else default_rules_dir()
        self.remote_write = remote_write
        argv = [
            str(binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",  # POST /-/reload after the instance list changes
        ]
        super().__init__(f"prometheus-{self.port}", argv, log_path=base / "prometheus.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            render_config(
                self.targets,
                self_address=f"127.0.0.1:{self.port}",
                rules_dir=self.rules_dir,
                remote_write=self.remote_write,
            )
        )

    def start(self) -> None:
        self.write_config()
        super().start()

    def wait_ready(self, timeout: float = 30) -> None:
        wait_for_http(f"{self.url}/-/ready", timeout=timeout, process=self)

    def update_targets(self, targets: ScrapeTargets) -> None:
        """Rewrite the config for a new set of targets and have the running server reload it."""
        self.targets = targets
        self.write_config()
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")  # noqa: S310 - http to loopback
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our loopback Prometheus
            response.read()


def start_prometheus(
    base: Path,
    targets: ScrapeTargets,
    *,
    say: Callable[[str], None],
    port: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> PrometheusServer | None:
    """What `cityscale up` calls: a ready Prometheus, or None after saying in one line why not.

    Raises `RemoteWriteConfigError` (one line, naming the variable) when Grafana Cloud is half configured.
    """
    reason = prometheus_missing_reason()
    if reason is not None:
        say(reason)
        return None
    remote = RemoteWrite.from_environment(environ)
    server = PrometheusServer(base, targets, port=port, remote_write=remote)
    server.start()
    try:
        server.wait_ready()
    except Exception:
        server.stop()
        raise
    shipping = f", remote-writing to {remote.url}" if remote else ""
    say(f"Prometheus at {server.url} (scraping {len(targets.api)} API instance(s){shipping})")
    return server


def prometheus_ready(port: int, *, timeout: float = 1) -> bool:
    """Whether the Prometheus on 127.0.0.1:`port` answers its readiness endpoint (for `cityscale status`)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False
