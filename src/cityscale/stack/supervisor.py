"""`cityscale up`'s engine: bring the whole topology up in order, watch it, take it down in reverse.

Order of start: lock the data dir; clean up what a killed previous owner left; check binaries and every
port; primary (created, migrated and seeded on the first run); replicas (`pg_basebackup -R` on the first
run); Redis; the API instances (ready: `/readyz` answers 200); nginx. Each waits until ready before the
next starts, so when `on_ready` is called the public URL serves. `state.json` is rewritten after each
part starts and says `ready` only from then on (state.py). Stop is the reverse, and runs whatever
happened before it: every process started is stopped, the state file removed, the lock released.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from cityscale.observability.build import commit_env
from cityscale.stack.api_instance import ApiInstance, instance_env
from cityscale.stack.binaries import postgres_bin_dir, require_binary
from cityscale.stack.embedded import DATABASE_NAME, cities_table_is_empty, create_database
from cityscale.stack.exporters import (
    Exporter,
    missing_exporters,
    nginx_exporter,
    postgres_exporter,
    redis_exporter,
    start_all,
)
from cityscale.stack.leftovers import stop_leftovers
from cityscale.stack.nginx import NginxParams, NginxServer
from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.process import ManagedProcess, wait_for_http
from cityscale.stack.prometheus import (
    PrometheusServer,
    RemoteWriteConfigError,
    ScrapeTargets,
    prometheus_missing_reason,
    start_prometheus,
)
from cityscale.stack.redis import RedisServer
from cityscale.stack.signals import Shutdown, stop_signals_ignored, stop_signals_raise_shutdown
from cityscale.stack.state import Component, StackLock, StackState, process_start_time
from cityscale.stack.topology import Topology, load_saved_ports, plan_ports

MAX_RESTARTS = 5  # per API instance and per `up`: a crash loop is reported, not hidden
WATCH_INTERVAL = 0.5


class StackError(RuntimeError):
    """A part of the stack could not be brought up; the message says which and where its log is."""


def _say(message: str) -> None:
    print(f"cityscale: {message}", file=sys.stderr, flush=True)


def ensure_token(path: Path) -> str:
    """The stack's API token: generated on the first run, kept in `path` (mode 0600) afterwards."""
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(token + "\n")
    return token


class Stack:
    """One run of the native stack on a data directory."""

    def __init__(self, topology: Topology, *, say: Callable[[str], None] = _say) -> None:
        self.topology = topology
        self.say = say
        self.primary = PostgresCluster(topology.primary_dir())
        self.replicas = [PostgresCluster(topology.replica_dir(n)) for n in range(1, topology.replicas + 1)]
        self.redis: RedisServer | None = None
        self.apis: list[ApiInstance] = []
        self.nginx: NginxServer | None = None
        self.prometheus: PrometheusServer | None = None
        self.exporters: list[Exporter] = []
        self.state: StackState | None = None
        self._lock = StackLock(topology.data_dir)
        self._started_clusters: list[PostgresCluster] = []
        self._restarts: dict[str, int] = {}
        self._public_port: int | None = None
        self._ready = False

    # -- the whole run -------------------------------------------------------------------------

    def run(self, on_ready: Callable[[Stack], None] | None = None) -> None:
        """Start everything, call `on_ready`, watch until a stop signal, then stop everything."""
        data_dir = self.topology.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            data_dir.chmod(data_dir.stat().st_mode | 0o711)  # the postgres user walks through it to its clusters
            self._lock.acquire()
        except OSError as exc:
            raise StackError(f"cannot use {data_dir} as the stack's data directory: {exc.strerror or exc}") from None
        try:
            with stop_signals_raise_shutdown():
                try:
                    self.start()
                    if on_ready is not None:
                        on_ready(self)
                    self.watch()
                except (Shutdown, KeyboardInterrupt):
                    self.say("stopping (signal received)")
        finally:
            with stop_signals_ignored():  # a second Ctrl-C must not interrupt the clean-up and leave orphans
                if self.state is not None:
                    self._write_state(ready=False)  # readers stop trusting the parts before they go
                self.stop()
                StackState.remove(data_dir)
                self._lock.release()

    def start(self) -> None:
        topology = self.topology
        stop_leftovers(self.topology.data_dir, self.say)
        postgres_bin_dir()  # missing binaries are reported (or installed) before anything starts
        require_binary("redis-server", "redis-server")
        require_binary("nginx", "nginx")
        ports = self._plan_ports()
        self._public_port = ports["nginx"]
        token = ensure_token(topology.token_file)
        # The state is rewritten as each part starts (not ready yet; a process is recorded before it is
        # waited for): a part started by an `up` that is killed half-way is on record, for `status` and
        # for the next `up`'s clean-up.
        self._write_state()
        self._start_primary(ports["primary"])
        self._write_state()
        for number, replica in enumerate(self.replicas, start=1):
            self._start_replica(number, replica, ports[f"replica-{number}"])
            self._write_state()
        self._start_redis(ports["redis"])
        self._start_apis(ports, token)
        self._start_nginx(ports)
        self._start_monitoring(ports)
        self._write_state(ready=True)

    # -- ports ---------------------------------------------------------------------------------

    def _plan_ports(self) -> dict[str, int]:
        topology = self.topology
        saved = load_saved_ports(topology.ports_file)
        wanted: dict[str, int | None] = {"nginx": topology.port, "nginx-status": saved.get("nginx-status")}
        wanted["primary"] = self.primary.port if self.primary.exists else None
        for number, replica in enumerate(self.replicas, start=1):
            wanted[f"replica-{number}"] = replica.port if replica.exists else None
        wanted["redis"] = saved.get("redis")
        for name in ["prometheus", "nginx-exporter", "redis-exporter", *self._postgres_exporter_names()]:
            wanted[name] = saved.get(name)
        for name in topology.api_names:
            wanted[name] = saved.get(name)
        plan = plan_ports(wanted, auto_ports=topology.auto_ports)
        keep = {name: port for name, port in {**saved, **plan}.items() if name != "nginx"}
        topology.ports_file.write_text(json.dumps(keep, indent=2) + "\n")
        return plan

    # -- PostgreSQL ----------------------------------------------------------------------------

    def _start_primary(self, port: int) -> None:
        primary = self.primary
        first_run = not primary.exists
        if first_run:
            self.say(f"creating the PostgreSQL primary in {primary.base} (first run only)")
            primary.create_primary(port=port)
        elif primary.port != port:
            self.say(f"moving the primary from port {primary.port} to {port}")
            primary.set_port(port)
        self._started_clusters.append(primary)
        primary.start()
        url = primary.url(DATABASE_NAME)
        try:
            asyncio.run(self._prepare_database(url))
        except (OSError, asyncpg.PostgresError) as exc:
            raise StackError(
                f"cannot create, migrate or seed the database on the primary (port {primary.port}): "
                f"{type(exc).__name__}: {exc}; its log: {primary.log_file}"
            ) from exc

    async def _prepare_database(self, url: str) -> None:
        from cityscale.cli.seed import seed_database
        from cityscale.store.migrate import migrate

        created = await create_database(self.primary)
        await migrate(url)
        if created or await cities_table_is_empty(url):
            limit = self.topology.seed_limit
            self.say("loading the GeoNames cities (first run only)" + (f", the {limit} largest" if limit else ""))
            await seed_database(url, min_population=0, limit=limit, show_progress=sys.stderr.isatty())

    def _start_replica(self, number: int, replica: PostgresCluster, port: int) -> None:
        if not replica.exists:
            if replica.base.exists():
                # A copy interrupted earlier (Ctrl-C during pg_basebackup): a replica is only ever a copy.
                self.say(f"removing the incomplete replica-{number} in {replica.base}")
                shutil.rmtree(replica.base)
            self.say(f"creating replica-{number} with pg_basebackup from the primary (once; reused on later runs)")
            replica.create_replica_of(self.primary, port=port)
        else:
            if replica.port != port:
                self.say(f"moving replica-{number} from port {replica.port} to {port}")
                replica.set_port(port)
            replica.follow(self.primary)  # the primary may have moved since the replica was made
        self._started_clusters.append(replica)
        replica.start()
        replica.wait_until_accepting()
        asyncio.run(_wait_until_streaming(replica, f"replica-{number}"))

    # -- Redis, API instances, nginx -----------------------------------------------------------

    def _start_redis(self, port: int) -> None:
        self.redis = RedisServer(self.topology.data_dir / "redis", port=port)
        self.redis.start()
        self._write_state()
        self.redis.wait_ready()

    def instance_env(self, token: str) -> dict[str, str]:
        """The full configuration every API instance gets (`api_instance.instance_env`)."""
        assert self.redis is not None  # noqa: S101 - started before the instances
        return {
            **instance_env(
                primary_url=self.primary.url(DATABASE_NAME),
                replica_urls=[replica.url(DATABASE_NAME) for replica in self.replicas],
                redis_url=self.redis.url,
                token=token,
                log_level=self.topology.log_level,
            ),
            **commit_env(),  # cityscale_build_info's commit label: this checkout's HEAD
        }

    def _start_apis(self, ports: dict[str, int], token: str) -> None:
        env = self.instance_env(token)
        for name in self.topology.api_names:
            api = ApiInstance(name, port=ports[name], env=env, log_path=self.topology.log_dir / f"{name}.log")
            self.apis.append(api)
            api.start()
        self._write_state()
        for api in self.apis:  # started together, waited for together: they boot in parallel
            api.wait_ready(timeout=60, path="/readyz")  # serving: its databases answer, not just its port

    def nginx_params(self, ports: dict[str, int]) -> NginxParams:
        return NginxParams.native(
            self.topology.data_dir / "nginx",
            port=ports["nginx"],
            status_port=ports["nginx-status"],
            instance_ports=[ports[name] for name in self.topology.api_names],
            worker_processes=self.topology.nginx_workers,
            rate_limit_per_second=self.topology.rate_limit,
        )

    def _start_nginx(self, ports: dict[str, int]) -> None:
        self.nginx = NginxServer(self.topology.data_dir / "nginx", self.nginx_params(ports))
        self.nginx.start()
        self._write_state()
        self.nginx.wait_ready()
        wait_for_http(f"{self.nginx.url}/healthz", timeout=10, process=self.nginx)

    def _postgres_exporter_names(self) -> list[str]:
        return [f"postgres-exporter-{name}" for name in ["primary", *self.topology.replica_names]]

    def _start_monitoring(self, ports: dict[str, int]) -> None:
        """Prometheus and the installed exporters, when Debian's `prometheus` is installed (else one line)."""
        reason = prometheus_missing_reason()
        if reason is not None:
            self.say(reason)
            return
        assert self.nginx is not None  # noqa: S101 - started before
        assert self.redis is not None  # noqa: S101
        log_dir = self.topology.log_dir
        clusters = [self.primary, *self.replicas]
        self.exporters = start_all(
            [
                nginx_exporter(ports["nginx-exporter"], self.nginx.status_url, log_dir),
                redis_exporter(ports["redis-exporter"], self.redis.url, log_dir),
                *(
                    postgres_exporter(name, ports[name], cluster.url(DATABASE_NAME) + "?sslmode=disable", log_dir)
                    for name, cluster in zip(self._postgres_exporter_names(), clusters, strict=True)
                ),
            ],
            say=self.say,
        )
        missing = missing_exporters()
        if missing:
            self.say(f"for nginx, PostgreSQL and Redis metrics too, install: apt-get install {' '.join(missing)}")
        by_name = {exporter.name: exporter.address for exporter in self.exporters}
        prefix = "postgres-exporter-"
        targets = ScrapeTargets(
            api=[f"127.0.0.1:{api.port}" for api in self.apis],
            nginx_exporter=by_name.get("nginx-exporter"),
            redis_exporter=by_name.get("redis-exporter"),
            postgres_exporters=[(n.removeprefix(prefix), a) for n, a in by_name.items() if n.startswith(prefix)],
        )
        try:
            self.prometheus = start_prometheus(
                self.topology.data_dir / "prometheus", targets, say=self.say, port=ports["prometheus"]
            )
        except RemoteWriteConfigError as exc:
            raise StackError(str(exc)) from None

    # -- state, watching, stopping -------------------------------------------------------------

    @property
    def url(self) -> str:
        """nginx's public URL, known from the port plan on (before nginx itself runs)."""
        assert self._public_port is not None  # noqa: S101 - set by the port plan, first thing in start()
        return f"http://127.0.0.1:{self._public_port}"

    def components(self) -> dict[str, Component]:
        found: dict[str, Component] = {}
        for name, cluster in [("primary", self.primary), *zip(self.topology.replica_names, self.replicas, strict=True)]:
            if cluster not in self._started_clusters:
                continue  # not created yet on a first run: no port, no pid to record
            pid = cluster.pid
            role = "primary" if cluster is self.primary else "replica"
            found[name] = Component(
                name, "postgres", pid, cluster.port, str(cluster.log_file), process_start_time(pid), role=role
            )
        if self.redis is not None:
            found["redis"] = _component("redis", "redis", self.redis, self.redis.port)
        if self.nginx is not None:
            nginx = _component("nginx", "nginx", self.nginx, self.nginx.port, log=self.nginx.access_log)
            found["nginx"] = dataclasses.replace(nginx, status_port=self.nginx.status_port)
        for api in self.apis:
            found[api.name] = _component(api.name, "api", api, api.port)
        if self.prometheus is not None:
            found["prometheus"] = _component("prometheus", "prometheus", self.prometheus, self.prometheus.port)
        for exporter in self.exporters:
            found[exporter.name] = _component(exporter.name, "exporter", exporter, exporter.port)
        return found

    def _write_state(self, *, ready: bool | None = None) -> None:
        """Record every part started so far; `ready` unchanged unless given."""
        if ready is not None:
            self._ready = ready
        self.state = StackState(
            owner_pid=os.getpid(),
            data_dir=str(self.topology.data_dir),
            url=self.url,
            token_file=str(self.topology.token_file),
            ready=self._ready,
            components=self.components(),
        )
        self.state.save(self.topology.data_dir)

    def watch(self) -> None:
        """Restart API instances, Redis or nginx when one dies (bounded), until a stop signal."""
        while True:
            time.sleep(WATCH_INTERVAL)
            restarted = False
            for process in [*self.apis, self.redis, self.nginx, self.prometheus, *self.exporters]:
                if process is not None and not process.running():
                    restarted |= self._restart(process)
            if restarted:
                self._write_state()

    def _restart(self, process: ManagedProcess) -> bool:
        count = self._restarts.get(process.name, 0)
        if count >= MAX_RESTARTS:
            return False
        self._restarts[process.name] = count + 1
        status = process.process.returncode if process.process is not None else None
        self.say(f"{process.name} exited (status {status}); restarting it ({count + 1}/{MAX_RESTARTS})")
        if count + 1 == MAX_RESTARTS:
            self.say(f"{process.name} will not be restarted again; its log: {process.log_path}")
        process.stop()
        process.start()
        return True

    def stop(self) -> None:
        """Stop every part that was started, in reverse order; never raises for a part already gone."""
        if self.prometheus is not None:
            self.prometheus.stop()
        for exporter in self.exporters:
            exporter.stop()
        if self.nginx is not None:
            self.nginx.stop()
        for api in self.apis:
            api.signal(signal.SIGTERM)  # all drain at once, then each is waited for
        for api in self.apis:
            api.stop()
        if self.redis is not None:
            self.redis.stop()
        for cluster in reversed(self._started_clusters):
            cluster.stop()


def _component(name: str, kind: str, process: ManagedProcess, port: int, *, log: Path | None = None) -> Component:
    return Component(name, kind, process.pid, port, str(log or process.log_path), process_start_time(process.pid))


async def _wait_until_streaming(replica: PostgresCluster, name: str, timeout: float = 60) -> None:
    """A replica is ready when it streams from the primary, not merely when it accepts connections."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        try:
            conn = await asyncpg.connect(replica.url("postgres"), timeout=5)
            try:
                status = await conn.fetchval("SELECT status FROM pg_stat_wal_receiver")
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError) as exc:
            status = f"{type(exc).__name__}: {exc}"
        if status == "streaming":
            return
        await asyncio.sleep(0.1)
    raise StackError(
        f"{name} does not stream from the primary after {timeout:g} s (last: {status or 'no WAL receiver'}); "
        f"its log: {replica.log_file}"
    )
