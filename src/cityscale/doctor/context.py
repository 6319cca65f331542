"""Everything the checks read, in one object, so that `--root DIR` (and tests) can point them at a fixture.

Checks never open `/etc/...` directly: they ask the context for `ctx.path("/etc/docker/daemon.json")`,
which lives under `root`. The environment is a mapping passed in (the process environment by default).
Commands (`dockerd --validate`, `journalctl`) run only through `ctx.run`, bounded in time, and report
a missing binary instead of raising.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

from cityscale.doctor.compose import ComposeFile, find_compose_file, load_compose
from cityscale.doctor.paths import exists, is_file
from cityscale.doctor.service_env import ServiceEnv, read_dotenv

# The ports the stack listens on (DESIGN.md: API 3000, nginx 8080 and 80, PostgreSQL, Redis).
DEFAULT_STACK_PORTS = (3000, 8080, 80, 5432, 6379)
COMMAND_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    home: PurePosixPath  # as seen inside `root`
    shell: str


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Context:
    """What the doctor looks at. `root` is `/` on a live system, a fixture tree in tests."""

    root: Path = Path("/")
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    project: Path | None = None  # where compose.yaml and .env live; default: cwd (live) or root
    ports: Sequence[int] | None = None  # instead of the stack's default ports (compose ports are always added)
    instances: int | None = None  # API instances sharing the database; default: compose replicas or 1

    @property
    def live(self) -> bool:
        """True when checking the running system (so processes, sockets and commands are meaningful)."""
        return self.root.resolve() == Path("/")

    def path(self, absolute: str | PurePosixPath) -> Path:
        """`absolute` (a path on the checked system) as a path on this machine."""
        return self.root / str(absolute).lstrip("/")

    def display(self, local: Path) -> str:
        """A local path as the checked system names it (`/etc/...`, not `/tmp/fixture/etc/...`)."""
        try:
            relative = str(local.relative_to(self.root))
        except ValueError:
            return str(local)
        return "/" if relative == "." else "/" + relative

    def read_text(self, absolute: str | PurePosixPath) -> str | None:
        try:
            return self.path(absolute).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    @cached_property
    def project_dir(self) -> Path:
        if self.project is not None:
            return self.project
        return Path.cwd() if self.live else self.root

    @cached_property
    def users(self) -> list[User]:
        """root plus human users (uid >= 1000 with a real shell) from `etc/passwd` under root."""
        text = self.read_text("/etc/passwd") or ""
        users = []
        for line in text.splitlines():
            parts = line.split(":")
            if len(parts) < 7 or not parts[2].isdigit():
                continue
            uid, shell = int(parts[2]), parts[6]
            if uid == 0 or (uid >= 1000 and not shell.endswith(("nologin", "false"))):
                users.append(User(parts[0], uid, PurePosixPath(parts[5] or "/"), shell))
        if not users and "HOME" in self.environ:
            users.append(
                User(self.environ.get("USER", "current"), os.getuid(), PurePosixPath(self.environ["HOME"]), "")
            )
        return users

    def container_marker(self) -> str | None:
        """The file that says this system is a container (systemd's order: podman, then Docker)."""
        for marker in ("/run/.containerenv", "/.dockerenv"):
            if exists(self.path(marker)):
                return marker
        if self.environ.get("KUBERNETES_SERVICE_HOST"):
            return "KUBERNETES_SERVICE_HOST"
        return None

    def which_all(self, name: str) -> list[Path]:
        """Every executable `name` along PATH, in PATH order (local paths under root)."""
        found = []
        for entry in self.environ.get("PATH", "").split(":"):
            if not entry:
                continue
            candidate = self.path(PurePosixPath(entry) / name)
            if is_file(candidate) and os.access(candidate, os.X_OK) and candidate not in found:
                found.append(candidate)
        return found

    def run(
        self, argv: Sequence[str], timeout: float = COMMAND_TIMEOUT_SECONDS, env: Mapping[str, str] | None = None
    ) -> CommandResult | None:
        """Run a program of this machine; None when it is not installed. Never raises on failure."""
        binary = shutil.which(argv[0])
        if binary is None:
            return None
        try:
            done = subprocess.run(
                [binary, *argv[1:]],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
                env=None if env is None else dict(env),
            )
        except subprocess.TimeoutExpired:
            return CommandResult(-1, "", f"timed out after {timeout:g} s")
        except OSError as exc:
            return CommandResult(-1, "", str(exc))
        return CommandResult(done.returncode, done.stdout, done.stderr)

    @cached_property
    def compose(self) -> ComposeFile | None:
        path = find_compose_file(self.project_dir)
        return load_compose(path) if path else None

    @cached_property
    def service_env(self) -> ServiceEnv:
        """The API's settings as a running instance sees them: `.env`, the api service's `env_file:`s and
        `environment:`, then the process environment (later ones win)."""
        dotenv_path = self.project_dir / ".env"
        dotenv = read_dotenv(dotenv_path)
        layers: list[tuple[str, Mapping[str, str]]] = []
        if dotenv is not None:
            layers.append((self.display(dotenv_path), dotenv))
        if self.compose is not None and self.compose.api_service:
            for env_file in self.compose.env_files(self.compose.api_service):
                values = read_dotenv(env_file)
                if values is not None:
                    layers.append((self.display(env_file), values))
            lookup = {**(dotenv or {}), **self.environ}
            where = f"{self.display(self.compose.path)} services.{self.compose.api_service}.environment"
            layers.append((where, self.compose.service_environment(self.compose.api_service, lookup)))
        layers.append(("environment", self.environ))
        return ServiceEnv(layers)

    def reachable_address(self, host: str, port: int) -> tuple[str, int, str | None] | str:
        """Where the doctor reaches `host:port` from here, with a note when translated; or why it cannot.

        Outside a container a compose service name does not resolve: use the port the service publishes.
        """
        compose = self.compose
        if compose is None or host not in compose.services or self.container_marker():
            return host, port, None
        for published in compose.published_ports():
            if published.service == host and published.container_port == port and published.host_port:
                where = f"127.0.0.1:{published.host_port}"
                note = f"{host}:{port} is compose service {host!r}, reached at its published port {where}"
                return "127.0.0.1", published.host_port, note
        return (
            f"{host!r} is a compose service name, reachable only inside the compose network, and it publishes no port "
            f"for {port}: run the doctor inside the api container (docker compose exec api cityscale doctor)"
        )

    @cached_property
    def stack_ports(self) -> tuple[int, ...]:
        """The stack's own ports (or `ports` instead); the compose file's published ports come on top."""
        return DEFAULT_STACK_PORTS if self.ports is None else tuple(self.ports)

    @cached_property
    def instance_count(self) -> int:
        if self.instances is not None:
            return self.instances
        if self.compose is not None and self.compose.api_service:
            return self.compose.replicas(self.compose.api_service)
        return 1
