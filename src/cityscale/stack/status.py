"""The health of a running native stack, read from its state file and probed live.

Each component is probed the way its clients use it: PostgreSQL by a query (and, for a replica, how far
its replay is behind the primary), Redis by PING, nginx by its internal stub_status page, an API instance
by its `/readyz`.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from cityscale.stack.nginx import STATUS_PATH, status_page_answers
from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.state import Component, StackState, is_locked

PROBE_TIMEOUT = 2.0


@dataclass
class ComponentHealth:
    name: str
    kind: str
    pid: int | None
    port: int
    healthy: bool
    detail: str
    log: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "pid": self.pid,
            "port": self.port,
            "healthy": self.healthy,
            "detail": self.detail,
            "log": self.log,
            **self.extra,
        }


@dataclass
class StackStatus:
    data_dir: Path
    running: bool
    url: str | None = None
    owner_pid: int | None = None
    # False while `up` is still starting its parts (or stopping them): never healthy then, even when
    # every part started so far answers.
    ready: bool = False
    components: list[ComponentHealth] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.running and self.ready and all(component.healthy for component in self.components)

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "running": self.running,
            "ready": self.ready,
            "healthy": self.healthy,
            "url": self.url,
            "owner_pid": self.owner_pid,
            "components": {component.name: component.as_dict() for component in self.components},
        }


def stack_status(data_dir: Path) -> StackStatus:
    """Probe every component of the `cityscale up` running on `data_dir` (running=False when none is)."""
    state = StackState.load(data_dir)
    if state is None or not is_locked(data_dir):
        return StackStatus(data_dir, running=False)
    return asyncio.run(_probe_all(data_dir, state))


async def _probe_all(data_dir: Path, state: StackState) -> StackStatus:
    probes = [_probe(data_dir, component) for component in state.components.values()]
    components = list(await asyncio.gather(*probes))
    return StackStatus(
        data_dir, running=True, url=state.url, owner_pid=state.owner_pid, ready=state.ready, components=components
    )


async def _probe(data_dir: Path, component: Component) -> ComponentHealth:
    health = ComponentHealth(component.name, component.kind, component.pid, component.port, False, "", component.log)
    if not component.is_alive():
        health.detail = "process not running"
        return health
    if component.kind == "postgres":
        await _probe_postgres(data_dir, component, health)
    elif component.kind == "redis":
        health.healthy = await asyncio.to_thread(_redis_answers, component.port)
        health.detail = "PONG" if health.healthy else "no answer to PING"
    elif component.kind == "nginx":
        url = f"http://127.0.0.1:{component.status_port}{STATUS_PATH}"
        health.healthy = await asyncio.to_thread(status_page_answers, url, timeout=PROBE_TIMEOUT)
        health.detail = "stub_status answers" if health.healthy else f"{url} does not answer"
        health.extra["status_port"] = component.status_port
    elif component.kind == "prometheus":
        from cityscale.stack.prometheus import prometheus_ready

        health.healthy = await asyncio.to_thread(prometheus_ready, component.port, timeout=PROBE_TIMEOUT)
        health.detail = "ready" if health.healthy else f"http://127.0.0.1:{component.port}/-/ready does not answer"
    elif component.kind == "exporter":
        from cityscale.stack.exporters import answers_metrics

        health.healthy = await asyncio.to_thread(answers_metrics, component.port, timeout=PROBE_TIMEOUT)
        health.detail = "serves /metrics" if health.healthy else "/metrics does not answer"
    else:
        health.healthy, health.detail = await asyncio.to_thread(_api_ready, component.port)
    return health


async def _probe_postgres(data_dir: Path, component: Component, health: ComponentHealth) -> None:
    cluster = PostgresCluster(data_dir / component.name)
    health.extra["role"] = component.role
    try:
        conn = await asyncpg.connect(cluster.url("postgres"), timeout=PROBE_TIMEOUT)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        health.detail = f"cannot connect: {type(exc).__name__}: {exc}"
        return
    try:
        in_recovery = await conn.fetchval("SELECT pg_is_in_recovery()")
        if component.role == "primary":
            health.healthy = not in_recovery
            health.detail = "accepting writes" if health.healthy else "in recovery (not a primary)"
            return
        row = await conn.fetchrow(
            """
            SELECT (SELECT status FROM pg_stat_wal_receiver) AS receiver,
                   CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END AS lag_seconds,
                   pg_last_wal_replay_lsn()::text AS replay_lsn
            """
        )
    finally:
        await conn.close()
    assert row is not None  # noqa: S101 - a SELECT without FROM returns one row
    lag_bytes = await _bytes_behind_primary(data_dir, row["replay_lsn"])
    health.extra["lag_seconds"] = float(row["lag_seconds"]) if row["lag_seconds"] is not None else None
    health.extra["lag_bytes"] = lag_bytes
    health.healthy = bool(in_recovery and row["receiver"] == "streaming")
    health.detail = (
        f"streaming, {lag_bytes if lag_bytes is not None else '?'} bytes behind the primary"
        if health.healthy
        else f"not streaming from the primary (receiver: {row['receiver'] or 'none'})"
    )


async def _bytes_behind_primary(data_dir: Path, replay_lsn: str | None) -> int | None:
    if replay_lsn is None:
        return None
    try:
        conn = await asyncpg.connect(PostgresCluster(data_dir / "primary").url("postgres"), timeout=PROBE_TIMEOUT)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        lag = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)", replay_lsn)
    finally:
        await conn.close()
    return max(int(lag), 0)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _api_ready(port: int) -> tuple[bool, str]:
    url = f"http://127.0.0.1:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
            return response.status == 200, "ready"
    except urllib.error.HTTPError as exc:
        return False, f"/readyz answered {exc.code}"
    except OSError as exc:
        return False, f"/readyz did not answer: {exc}"
