"""`cityscale migrate --wait SECONDS`, which the Compose `migrate` service and the Kubernetes Job run:
started before its database listens, it waits and then migrates; if the database never comes, it
stops after SECONDS with one clear line and exit status 1 (never a traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityscale.stack.ports import free_port
from cityscale.stack.postgres import PostgresCluster
from tests.support.servers import remove, scratch_dir

CITYSCALE = str(Path(sys.executable).with_name("cityscale"))


def start_migrate(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "warning"}
    return subprocess.Popen(
        [CITYSCALE, "migrate", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def stopped_primary() -> Iterator[PostgresCluster]:
    """A PostgreSQL primary created (its port and password known) but not started yet."""
    base = scratch_dir("migrate-wait")
    cluster = PostgresCluster(base / "primary")
    try:
        cluster.create_primary(durable=False)
        yield cluster
    finally:
        cluster.destroy()
        remove(base)


def test_waits_for_a_database_started_later_then_migrates(stopped_primary: PostgresCluster) -> None:
    process = start_migrate(stopped_primary.url("postgres"), "--wait", "120")
    try:
        # Nothing listens yet: without --wait the command would have failed within this time.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert process.poll() is None, f"exited before the database started: {process.communicate()}"
        stopped_primary.start()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "waiting up to 120s for the database" in stderr
    assert "schema migrated from empty to" in stdout


def test_gives_up_after_the_wait_with_one_clear_line() -> None:
    url = f"postgresql://cityscale:unused@127.0.0.1:{free_port()}/cities"  # nothing listens there
    process = start_migrate(url, "--wait", "2")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert "did not accept connections within 2s" in stderr
    assert "unused" not in stderr, "the password must not be printed"


def test_without_wait_an_unreachable_database_is_one_line_not_a_traceback() -> None:
    url = f"postgresql://cityscale:unused@127.0.0.1:{free_port()}/cities"
    process = start_migrate(url)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert stderr.startswith("cityscale: cannot connect to the database at 127.0.0.1:")
    assert "--wait SECONDS" in stderr


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_wait_rejects_a_non_positive_or_non_numeric_value(value: str) -> None:
    process = start_migrate("postgresql://cityscale:unused@127.0.0.1:1/cities", "--wait", value)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "Invalid value for '--wait'" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("wait", [[], ["--wait", "600"]], ids=["no-wait", "wait"])
def test_a_wrong_password_is_one_line_at_once(pg: PostgresCluster, wait: list[str]) -> None:
    # Waiting cannot fix a refusal: it is reported at once, not retried for the 600 s of the wait
    # (the communicate() timeout, far below it, would fail the test).
    url = f"postgresql://{pg.state.superuser}:wrong-password@127.0.0.1:{pg.port}/postgres"
    process = start_migrate(url, *wait)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("migrate kept retrying a refused password")
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert "password authentication failed" in stderr.splitlines()[-1]
    assert "wrong-password" not in stderr
