"""Fault injectors: each breaks one part of a running stack and (where `up` does not) repairs it.

A fault has three steps, all run while the load keeps going: `inject` (break it; returns when it is
broken), `repair` (undo what `up` will not undo by itself; a no-op for a killed API instance, Redis or
nginx, which `up`'s supervisor restarts) and `healthy` (a probe of the part, polled to measure the
recovery time). Blocking work (pg_ctl) runs in a thread so the load loop never stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field

import asyncpg
import httpx
import psutil

from cityscale.chaos.target import StackTarget

LAG_WAIT_LIMIT = 60.0  # pausing replay never waits longer than this for the lag to build up


class Fault:
    """Base of every injector; subclasses override what they need."""

    async def inject(self, target: StackTarget) -> None:
        raise NotImplementedError

    async def repair(self, target: StackTarget) -> None:
        """Undo the fault; default: nothing (the supervisor of `up` restarts dead processes)."""

    async def healthy(self, target: StackTarget) -> bool:
        raise NotImplementedError


async def _http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def _writable(base_url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            response = await client.get(f"{base_url}/readyz")
            return response.json().get("writable") is True
    except (httpx.HTTPError, ValueError):
        return False


async def _query_ok(url: str, sql: str = "SELECT 1") -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=1.0)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    try:
        return bool(await conn.fetchval(sql, timeout=1.0))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=1.0)


@dataclass
class KillProcess(Fault):
    """SIGKILL a component's whole process group (`api-1`, `redis`): a crash, not a clean stop."""

    name: str
    killed_pid: int | None = None

    async def inject(self, target: StackTarget) -> None:
        pid = target.component(self.name).pid
        if pid is None:
            raise RuntimeError(f"{self.name} has no pid")
        self.killed_pid = pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # each managed process leads its own group (stack/process.py)

    async def healthy(self, target: StackTarget) -> bool:
        component = target.component(self.name)
        if component.pid in (None, self.killed_pid) or not component.is_alive():
            return False  # `up` has not restarted it yet
        if component.kind == "api":
            return await _http_ok(f"http://127.0.0.1:{component.port}/readyz")
        return await _ping_redis(component.port)


async def _ping_redis(port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"PING\r\n")
        return (await asyncio.wait_for(reader.read(16), 1.0)).startswith(b"+PONG")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


@dataclass
class PauseProcess(Fault):
    """SIGSTOP a component (Redis): the kernel still accepts connections, nothing answers (a blackhole)."""

    name: str
    pid: int | None = None

    async def inject(self, target: StackTarget) -> None:
        self.pid = target.component(self.name).pid
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    async def repair(self, target: StackTarget) -> None:  # noqa: ARG002 - the interface
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)

    async def healthy(self, target: StackTarget) -> bool:
        return await _ping_redis(target.component(self.name).port)


@dataclass
class StopCluster(Fault):
    """`pg_ctl stop -m fast` on a PostgreSQL server (`primary` or `replica-N`), then start it again."""

    name: str

    async def inject(self, target: StackTarget) -> None:
        await asyncio.to_thread(target.cluster(self.name).stop, mode="fast")

    async def repair(self, target: StackTarget) -> None:
        await asyncio.to_thread(target.cluster(self.name).start)

    async def healthy(self, target: StackTarget) -> bool:
        if not await _query_ok(target.database_url(self.name)):
            return False
        if self.name != "primary":
            return True
        # The primary is back for the service once every instance says it can write again (its breaker
        # closed), not merely when PostgreSQL accepts connections.
        return all([await _writable(url) for url in target.api_urls.values()])


@dataclass
class PauseReplay(Fault):
    """`pg_wal_replay_pause()` on a replica until its replay lags more than `lag_limit` behind, then resume."""

    name: str
    lag_limit: float
    observed_lag: float = 0.0

    async def inject(self, target: StackTarget) -> None:
        conn = await asyncpg.connect(target.database_url(self.name), timeout=5)
        try:
            await conn.execute("SELECT pg_wal_replay_pause()")
            started = time.monotonic()
            # The lag only grows while the primary writes: the load's writes do that.
            while time.monotonic() - started < LAG_WAIT_LIMIT:
                lag = await conn.fetchval(
                    "SELECT CASE WHEN pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
                    " THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) ELSE 0 END"
                )
                self.observed_lag = float(lag or 0.0)
                if self.observed_lag > self.lag_limit + 1:
                    return
                await asyncio.sleep(0.2)
        finally:
            await conn.close()

    async def repair(self, target: StackTarget) -> None:
        conn = await asyncpg.connect(target.database_url(self.name), timeout=5)
        try:
            await conn.execute("SELECT pg_wal_replay_resume()")
        finally:
            await conn.close()

    async def healthy(self, target: StackTarget) -> bool:
        return await replica_caught_up(target, self.name)


async def replica_caught_up(target: StackTarget, name: str) -> bool:
    """The replica has replayed everything the primary had written when asked."""
    try:
        primary = await asyncpg.connect(target.database_url("primary"), timeout=1.0)
        try:
            wanted = await primary.fetchval("SELECT pg_current_wal_lsn()::text", timeout=1.0)
        finally:
            await primary.close()
        replica = await asyncpg.connect(target.database_url(name), timeout=1.0)
        try:
            return bool(
                await replica.fetchval(
                    "SELECT NOT pg_is_wal_replay_paused() AND pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    wanted,
                    timeout=1.0,
                )
            )
        finally:
            await replica.close()
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False


@dataclass
class HoldRowLocks(Fault):
    """Hold `FOR UPDATE` locks on every written key from a direct connection to the primary.

    The service's writes to those keys then wait on the lock while holding a connection of the primary's
    pool, so the pool fills with slow queries and every other write must wait for a connection: it waits
    at most `DB_ACQUIRE_TIMEOUT` and gets a 503, or gets its connection when the locks go. Reads go to
    the replicas and the cache and must not notice.
    """

    keys: tuple[int, ...]
    _conn: asyncpg.Connection | None = field(default=None, repr=False)
    _transaction: object | None = field(default=None, repr=False)

    async def inject(self, target: StackTarget) -> None:
        self._conn = await asyncpg.connect(target.database_url("primary"), timeout=5)
        await self._conn.execute("BEGIN")
        await self._conn.execute("SELECT id FROM cities WHERE id = ANY($1::bigint[]) FOR UPDATE", list(self.keys))

    async def repair(self, target: StackTarget) -> None:  # noqa: ARG002 - the interface
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute("ROLLBACK")
            await self._conn.close()
            self._conn = None

    async def healthy(self, target: StackTarget) -> bool:
        return await _http_ok(f"{target.url}/readyz")


@dataclass
class ReloadNginx(Fault):
    """SIGHUP to nginx's master: new workers with the configuration re-read, old ones finish gracefully.

    Healthy once nginx answers and every process of the old generation has exited: the old workers
    close their idle keep-alive client connections on the way out, about 0.1 s after the SIGHUP here,
    which is the part of a reload a client can feel (so it belongs to the "during" phase).
    """

    old_processes: set[int] = field(default_factory=set)

    async def inject(self, target: StackTarget) -> None:
        pid = target.component("nginx").pid
        if pid is not None:
            self.old_processes = _children(pid)
            os.kill(pid, signal.SIGHUP)

    async def healthy(self, target: StackTarget) -> bool:
        pid = target.component("nginx").pid
        if pid is not None and self.old_processes & _children(pid):
            return False
        return await _http_ok(f"{target.url}/healthz")


def _children(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children()}
    except psutil.Error:
        return set()
