"""The project's Compose file, read as the doctor needs it: services, environment, ports with their quoting.

Ports are read from YAML *nodes* (`yaml.compose`), not loaded values, because the check for unquoted
mappings needs the original style: PyYAML (YAML 1.1) turns an unquoted `22:22` into 1342 (base 60).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cityscale.doctor.paths import is_file

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
DATABASE_SERVICE_NAMES = frozenset({"db", "database", "postgres", "postgresql", "pg", "primary"})
_VARIABLE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
)


@dataclass(frozen=True)
class PublishedPort:
    service: str
    raw: str
    host_port: int | None  # None: no host port (container-only) or a range
    container_port: int | None
    quoted: bool
    line: int  # 1-based line in the compose file


@dataclass
class ComposeFile:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    _root: yaml.Node | None = None

    @property
    def services(self) -> dict[str, Any]:
        services = self.data.get("services")
        return services if isinstance(services, dict) else {}

    @property
    def api_service(self) -> str | None:
        """`api` when present, else a service whose image or build names cityscale."""
        if "api" in self.services:
            return "api"
        for name, spec in self.services.items():
            if isinstance(spec, dict) and "cityscale" in str(spec.get("image", "")) + str(spec.get("build", "")):
                return str(name)
        return None

    def database_services(self) -> list[str]:
        names = []
        for name, spec in self.services.items():
            image = str(spec.get("image", "")) if isinstance(spec, dict) else ""
            if name in DATABASE_SERVICE_NAMES or image.split("/")[-1].startswith("postgres"):
                names.append(str(name))
        return names

    def service(self, name: str) -> dict[str, Any]:
        spec = self.services.get(name)
        return spec if isinstance(spec, dict) else {}

    def service_environment(self, name: str, lookup: Mapping[str, str]) -> dict[str, str]:
        """The `environment:` of a service (list or mapping form), `${VAR}` interpolated from `lookup`."""
        raw = self.service(name).get("environment")
        pairs: dict[str, str] = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                pairs[str(key)] = "" if value is None else _scalar(value)
        elif isinstance(raw, list):
            for item in raw:
                key, sep, value = str(item).partition("=")
                pairs[key] = value if sep else lookup.get(key, "")
        return {key: interpolate(value, lookup) for key, value in pairs.items()}

    def env_files(self, name: str) -> list[Path]:
        """The service's `env_file:` entries (string, list of strings, or list of `{path: ...}`), in order."""
        raw = self.service(name).get("env_file")
        items = raw if isinstance(raw, list) else [raw] if raw else []
        paths = []
        for item in items:
            path = item.get("path") if isinstance(item, dict) else item
            if isinstance(path, str) and path:
                paths.append(self.path.parent / path)
        return paths

    def replicas(self, name: str) -> int:
        spec = self.service(name)
        deploy = spec.get("deploy")
        for value in (deploy.get("replicas") if isinstance(deploy, dict) else None, spec.get("scale")):
            if isinstance(value, int) and value > 0:
                return value
        return 1

    def published_ports(self) -> list[PublishedPort]:
        ports = []
        for service, node in self._service_port_nodes():
            for item in node.value:
                if isinstance(item, yaml.ScalarNode):
                    raw = interpolate(item.value, {})
                    host, target = _ports_of(raw)
                    ports.append(
                        PublishedPort(service, raw, host, target, item.style is not None, item.start_mark.line + 1)
                    )
                elif isinstance(item, yaml.MappingNode):
                    published = {k.value: v.value for k, v in item.value if isinstance(v, yaml.ScalarNode)}
                    raw = str(published.get("published", ""))
                    host = int(raw) if raw.isdigit() else None
                    target_port = str(published.get("target", ""))
                    container = int(target_port) if target_port.isdigit() else None
                    ports.append(PublishedPort(service, raw, host, container, True, item.start_mark.line + 1))
        return ports

    def _service_port_nodes(self) -> list[tuple[str, yaml.SequenceNode]]:
        found: list[tuple[str, yaml.SequenceNode]] = []
        services = _child(self._root, "services")
        if not isinstance(services, yaml.MappingNode):
            return found
        for key, spec in services.value:
            ports = _child(spec, "ports")
            if isinstance(ports, yaml.SequenceNode):
                found.append((str(key.value), ports))
        return found


def find_compose_file(directory: Path) -> Path | None:
    for name in COMPOSE_NAMES:
        if is_file(directory / name):
            return directory / name
    return None


def load_compose(path: Path) -> ComposeFile:
    try:
        text = path.read_text(encoding="utf-8-sig")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return ComposeFile(path, error=" ".join(str(exc).split()))
    if not isinstance(data, dict):
        return ComposeFile(path, error="the file is not a YAML mapping")
    return ComposeFile(path, data, None, root)


def interpolate(value: str, lookup: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$VAR` (`$$` is a literal `$`)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        found = lookup.get(name)
        op, default = match.group("op"), match.group("default") or ""
        if op == ":-" and not found:
            return default
        if op == "-" and found is None:
            return default
        return found or ""

    parts = value.split("$$")
    return "$".join(_VARIABLE.sub(replace, part) for part in parts)


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v  # type: ignore[no-any-return]
    return None


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ports_of(raw: str) -> tuple[int | None, int | None]:
    """`[IP:]HOST:CONTAINER[/proto]` -> (HOST, CONTAINER); a bare container port has no fixed host port."""
    spec = raw.split("/", 1)[0]
    if spec.startswith("["):  # [::1]:8080:80
        spec = spec.split("]:", 1)[-1]
    parts = spec.split(":")
    container = int(parts[-1]) if parts[-1].isdigit() else None
    if len(parts) < 2:
        return None, container
    host = parts[-2]
    return (int(host) if host.isdigit() else None), container
