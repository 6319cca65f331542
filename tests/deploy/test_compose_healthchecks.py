"""The Compose PostgreSQL healthchecks, run unchanged (but for the port) against a real PostgreSQL.

The official image's entrypoint runs its init scripts on a temporary server that listens on the Unix
socket only (`listen_addresses=''`). A check over the socket says "healthy" then, and `migrate` or the
replica, which connect over TCP, fail. The checks use `-h 127.0.0.1`, so they say healthy only once
the server accepts the TCP connections its clients make."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityscale.stack.binaries import postgres_bin_dir
from cityscale.stack.postgres import PostgresCluster
from tests.deploy.kit import compose
from tests.support.servers import remove, scratch_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs the server as the postgres user (needs root)")


def healthcheck(service: str) -> str:
    test = compose()["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    # Compose turns $$ into $ before the container's shell sees the command.
    return str(test[1]).replace("$$", "$")


def run_check(command: str, cluster: PostgresCluster, socket_dir: Path) -> subprocess.CompletedProcess[str]:
    state = cluster.state
    env = {
        "PATH": f"{postgres_bin_dir()}:/usr/bin:/bin",
        # libpq's defaults inside the container: the server's own socket and port. A check without
        # -h would use them, as it would in the image.
        "PGHOST": str(socket_dir),
        "PGPORT": str(state.port),
        "POSTGRES_USER": state.superuser,
        "POSTGRES_PASSWORD": state.password,
        "POSTGRES_DB": "postgres",
    }
    # The container's server listens on 5432; this one on a free port.
    command = command.replace("-p 5432", f"-p {state.port}")
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=30, check=False)


def listen(cluster: PostgresCluster, *, tcp: bool, socket_dir: Path) -> None:
    """Restart with the image's init-time listening (socket only) or its normal one (TCP too)."""
    cluster.stop()
    with (cluster.data_dir / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"listen_addresses = '{'127.0.0.1' if tcp else ''}'\n")
        conf.write(f"unix_socket_directories = '{socket_dir}'\n")
    cluster.start()


@pytest.fixture
def primary() -> Iterator[tuple[PostgresCluster, Path]]:
    base = scratch_dir("compose-health")
    socket_dir = base / "socket"
    socket_dir.mkdir()
    socket_dir.chmod(0o1777)
    cluster = PostgresCluster(base / "primary")
    try:
        cluster.create_primary(durable=False)
        cluster.start()
        yield cluster, socket_dir
    finally:
        cluster.destroy()
        remove(base)


def test_primary_check_is_unhealthy_while_only_the_socket_listens(primary: tuple[PostgresCluster, Path]) -> None:
    cluster, socket_dir = primary
    listen(cluster, tcp=False, socket_dir=socket_dir)
    # The server is up: over its socket it answers (what a check without -h would have reported).
    over_socket = run_check("pg_isready", cluster, socket_dir)
    assert over_socket.returncode == 0, over_socket.stdout + over_socket.stderr
    assert run_check(healthcheck("postgres-primary"), cluster, socket_dir).returncode != 0


def test_primary_check_is_healthy_once_tcp_listens(primary: tuple[PostgresCluster, Path]) -> None:
    cluster, socket_dir = primary
    listen(cluster, tcp=True, socket_dir=socket_dir)
    result = run_check(healthcheck("postgres-primary"), cluster, socket_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_replica_check_logs_in_over_tcp_and_rejects_a_primary(primary: tuple[PostgresCluster, Path]) -> None:
    cluster, socket_dir = primary
    listen(cluster, tcp=True, socket_dir=socket_dir)
    command = healthcheck("postgres-replica")
    # Without its filter the query runs: the password reaches the server over TCP and it answers.
    query = run_check(command.split(" | ")[0], cluster, socket_dir)
    assert query.returncode == 0, query.stderr
    assert query.stdout.strip() == "f"
    # A primary is not a standby: the whole check says unhealthy.
    assert run_check(command, cluster, socket_dir).returncode != 0
