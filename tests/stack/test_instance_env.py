"""The configuration each API instance of `cityscale up` gets: everything the stack has, in the names
the service reads (DESIGN.md section 2), whether or not the service uses all of it yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityscale.settings import Settings
from cityscale.stack.postgres import ClusterState
from cityscale.stack.redis import RedisServer
from cityscale.stack.supervisor import Stack
from cityscale.stack.topology import Topology

# Characters a URL must escape, so a DB_* part decoded wrongly shows.
PASSWORD = "p@ss/w:rd%"


def stack_with_clusters_on_disk(data_dir: Path, *, replicas: int) -> Stack:
    """A Stack whose clusters exist as far as their connection facts go (nothing is started)."""
    stack = Stack(Topology(data_dir=data_dir, replicas=replicas, log_level="warning"), say=lambda _: None)
    for number, cluster in enumerate([stack.primary, *stack.replicas]):
        cluster.base.mkdir(parents=True)
        role = "primary" if number == 0 else "replica"
        ClusterState(port=15400 + number, password=PASSWORD, role=role).save(cluster.base / "cluster.json")
    stack.redis = RedisServer(data_dir / "redis", port=16379)
    return stack


def test_every_instance_gets_the_whole_topology(tmp_path: Path) -> None:
    env = stack_with_clusters_on_disk(tmp_path, replicas=2).instance_env("secret-token")
    assert env["DATABASE_URL"].endswith("@127.0.0.1:15400/cities")
    assert env["DB_REPLICA_URLS"].split(",") == [
        env["DATABASE_URL"].replace(":15400/", ":15401/"),
        env["DATABASE_URL"].replace(":15400/", ":15402/"),
    ]
    assert env["REDIS_URL"] == "redis://127.0.0.1:16379/0"
    assert env["API_TOKEN"] == "secret-token"
    assert env["LOG_LEVEL"] == "warning"
    # The original service's names for the same primary, decoded (not URL-escaped).
    assert (env["DB_HOST"], env["DB_PORT"], env["DB_NAME"]) == ("127.0.0.1", "15400", "cities")
    assert env["DB_PASSWORD"] == PASSWORD
    assert env["DB_USER"] != ""


def test_without_replicas_the_variable_is_still_there_and_empty(tmp_path: Path) -> None:
    env = stack_with_clusters_on_disk(tmp_path, replicas=0).instance_env("t")
    assert env["DB_REPLICA_URLS"] == ""


@pytest.mark.parametrize("drop_database_url", [False, True])
def test_the_service_reads_the_same_primary_from_either_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drop_database_url: bool
) -> None:
    env = stack_with_clusters_on_disk(tmp_path, replicas=1).instance_env("t")
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if not (drop_database_url and name == "DATABASE_URL"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.primary_url, settings.DB_REPLICA_URLS, settings.REDIS_URL) == (
        env["DATABASE_URL"],
        (env["DB_REPLICA_URLS"],),
        env["REDIS_URL"],
    )
