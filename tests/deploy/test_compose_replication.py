"""The Compose stack's replication scripts work on a real PostgreSQL: the primary's init script
creates the `replicator` role, its slot and its pg_hba.conf line; the replica's entrypoint clones
the primary with `pg_basebackup -R` through that slot, hands over to the image's entrypoint, and the
clone starts as a streaming hot standby. Runs the scripts unchanged; what only the official image
provides is stood in for: `gosu` (as `runuser`) and `docker-entrypoint.sh` (records its arguments).
The machine's PostgreSQL is 15, the image's 18; the scripts use nothing that differs between them."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from cityscale.stack.binaries import postgres_bin_dir
from cityscale.stack.ports import free_port
from cityscale.stack.postgres import ClusterState, PostgresCluster
from tests.deploy.kit import REPO
from tests.support.servers import remove, running_primary, scratch_dir

SCRIPTS = REPO / "deploy" / "compose" / "postgres"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="the replica entrypoint runs as root in the image (it hands the data dir to `postgres`)",
    ),
]


@pytest.fixture
def base() -> Iterator[Path]:
    path = scratch_dir("deploy-replication")
    yield path
    remove(path)


def stand_ins(directory: Path) -> Path:
    """`gosu USER CMD...` and the official image's `docker-entrypoint.sh`, for running outside it."""
    directory.mkdir()
    gosu = directory / "gosu"
    gosu.write_text('#!/bin/sh\nuser="$1"; shift\nexec runuser -u "$user" -- "$@"\n')
    entrypoint = directory / "docker-entrypoint.sh"
    entrypoint.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {directory}/entrypoint-calls\n')
    for path in (gosu, entrypoint):
        path.chmod(0o755)
    return directory


def script_env(primary: PostgresCluster, bin_dir: Path, **extra: str) -> dict[str, str]:
    state = primary.state
    return {
        "PATH": f"{bin_dir}:{postgres_bin_dir()}:/usr/sbin:/usr/bin:/sbin:/bin",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(state.port),
        **extra,
    }


def run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(SCRIPTS / script), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result


async def test_primary_init_then_replica_entrypoint_make_a_streaming_standby(base: Path) -> None:
    replication_password = secrets.token_hex(16)
    bin_dir = stand_ins(base / "bin")
    with running_primary(base) as primary:
        state = primary.state
        run(
            "primary-init.sh",
            script_env(
                primary,
                bin_dir,
                POSTGRES_USER=state.superuser,
                POSTGRES_DB="postgres",
                PGPASSWORD=state.password,
                PGDATA=str(primary.data_dir),
                POSTGRES_REPLICATION_PASSWORD=replication_password,
            ),
        )
        assert "host replication replicator all scram-sha-256" in (primary.data_dir / "pg_hba.conf").read_text()
        conn = await asyncpg.connect(primary.url("postgres"))
        try:
            await conn.execute("SELECT pg_reload_conf()")  # the image restarts the server after init instead
            assert await conn.fetchval("SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'") is True
            assert await conn.fetchval("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'replica_1'") == 1
            await conn.execute(
                "CREATE TABLE written_before_clone (id int); INSERT INTO written_before_clone VALUES (7)"
            )
        finally:
            await conn.close()

        replica = PostgresCluster(base / "replica")
        (base / "replica").mkdir(mode=0o755)
        replica_env = script_env(
            primary,
            bin_dir,
            PRIMARY_HOST="127.0.0.1",
            PGDATA=str(replica.data_dir),
            POSTGRES_REPLICATION_PASSWORD=replication_password,
        )
        run("replica-entrypoint.sh", replica_env, "postgres", "-c", "hot_standby=on")
        # It handed over to the image's entrypoint with the service's command, unchanged.
        assert (bin_dir / "entrypoint-calls").read_text().splitlines() == ["postgres -c hot_standby=on"]
        assert (replica.data_dir / "standby.signal").exists()
        auto_conf = (replica.data_dir / "postgresql.auto.conf").read_text()
        assert "user=replicator" in auto_conf
        assert "primary_slot_name = 'replica_1'" in auto_conf

        # A second start finds a data directory and clones nothing.
        run("replica-entrypoint.sh", replica_env, "postgres")
        assert len((bin_dir / "entrypoint-calls").read_text().splitlines()) == 2

        # The clone runs as a hot standby streaming through the slot.
        ClusterState(port=state.port, password=state.password, role="replica", superuser=state.superuser).save(
            replica.base / "cluster.json"
        )
        replica.set_port(free_port())
        replica.start()
        try:
            standby = await asyncpg.connect(replica.url("postgres"))
            try:
                assert await standby.fetchval("SELECT pg_is_in_recovery()") is True
                assert await standby.fetchval("SELECT id FROM written_before_clone") == 7
            finally:
                await standby.close()
            conn = await asyncpg.connect(primary.url("postgres"))
            try:
                active = "SELECT active FROM pg_replication_slots WHERE slot_name = 'replica_1'"
                for _ in range(100):  # bounded: the walreceiver connects within a second or two
                    if await conn.fetchval(active):
                        break
                    await conn.execute("SELECT pg_sleep(0.1)")
                assert await conn.fetchval(active) is True
            finally:
                await conn.close()
        finally:
            replica.destroy()
