"""The shape of a native stack (how many of each part, where its files live) and its port plan.

Layout of a stack data directory:

    up.lock, state.json      the owner's lock and the running state (state.py)
    ports.json               the ports chosen on the first run, reused afterwards
    api-token                the bearer token for writes (mode 0600)
    primary/, replica-N/     PostgreSQL clusters (postgres.py layout; their ports are in cluster.json)
    redis/                   Redis' working dir and log
    nginx/                   nginx's prefix: nginx.conf, pid, temp files, logs/access.log, logs/error.log
    logs/api-N.log           each API instance's output (its JSON access log)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cityscale.stack.ports import PortHolder, free_port, port_holder

DEFAULT_PORT = 8080


def default_stack_dir() -> Path:
    """`$CITYSCALE_DATA_DIR/stack`, else `./.cityscale/stack`: beside `cityscale serve`'s embedded database."""
    return (Path(os.environ.get("CITYSCALE_DATA_DIR") or ".cityscale") / "stack").resolve()


class PortConflictError(RuntimeError):
    """Ports the stack needs are taken; the message names each holder."""


@dataclass(frozen=True)
class Topology:
    """What `cityscale up` runs: primary + `replicas` replicas, Redis, `instances` API instances, nginx."""

    data_dir: Path
    replicas: int = 1
    instances: int = 2
    port: int = DEFAULT_PORT
    auto_ports: bool = False
    seed_limit: int | None = None
    log_level: str = "info"
    nginx_workers: str = "auto"
    rate_limit: int | None = None  # nginx's limit in requests per second per client address; None: off

    def primary_dir(self) -> Path:
        return self.data_dir / "primary"

    def replica_dir(self, number: int) -> Path:
        return self.data_dir / f"replica-{number}"

    @property
    def replica_names(self) -> list[str]:
        return [f"replica-{n}" for n in range(1, self.replicas + 1)]

    @property
    def api_names(self) -> list[str]:
        return [f"api-{n}" for n in range(1, self.instances + 1)]

    @property
    def token_file(self) -> Path:
        return self.data_dir / "api-token"

    @property
    def ports_file(self) -> Path:
        return self.data_dir / "ports.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


def load_saved_ports(path: Path) -> dict[str, int]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def plan_ports(
    wanted: dict[str, int | None],
    *,
    auto_ports: bool,
    holder_of: Callable[[int], PortHolder | None] = port_holder,
    pick_free: Callable[[], int] = free_port,
) -> dict[str, int]:
    """Give every component a port that nothing holds, before anything is bound.

    `wanted` maps a component to the port it should use (None: any free one). A port that is taken, or
    wanted twice, is a conflict: with `auto_ports` the component gets a free port instead; without it,
    `PortConflictError` names every conflict and its holder (pid and program) at once.
    """
    plan: dict[str, int] = {}
    conflicts: list[str] = []
    for name, port in wanted.items():
        if port is None:
            plan[name] = _fresh_port(pick_free, taken=set(plan.values()))
            continue
        holder = holder_of(port)
        clash = next((other for other, used in plan.items() if used == port), None)
        if holder is None and clash is None:
            plan[name] = port
        elif auto_ports:
            plan[name] = _fresh_port(pick_free, taken=set(plan.values()))
        elif holder is not None:
            conflicts.append(f"{name}: {holder.describe()}")
        else:
            conflicts.append(f"{name}: port {port} is also planned for {clash}")
    if conflicts:
        raise PortConflictError(
            "cannot start, ports in use: " + "; ".join(conflicts) + " (free them, choose --port, or pass --auto-ports)"
        )
    return plan


def _fresh_port(pick_free: Callable[[], int], *, taken: set[int]) -> int:
    for _ in range(100):
        port = pick_free()
        if port not in taken:
            return port
    raise PortConflictError("could not find a free port")  # pragma: no cover - the OS ran out of ports
