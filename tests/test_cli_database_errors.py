"""migrate, seed and serve (with and without --migrate) against a database that is down or refuses
them: one line, exit 1.

Real failures from a real server (the suite's PostgreSQL): nothing listening, a wrong password, a
database that does not exist. Never a traceback, never the password.
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from cityscale.stack.ports import free_port
from cityscale.stack.postgres import PostgresCluster

WRONG_PASSWORD = "wrong-pw-8c1d"


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{host}"))


def failing_url(pg: PostgresCluster, failure: str) -> tuple[str, str]:
    """The URL for a failure, and what the one line must say about it."""
    if failure == "nothing listening":
        return f"postgresql://cityscale:pw@127.0.0.1:{free_port()}/cities", "Connect call failed"
    if failure == "wrong password":
        return with_password(pg.url("postgres"), WRONG_PASSWORD), "password authentication failed"
    return pg.url("no_such_database"), 'database "no_such_database" does not exist'


@pytest.mark.parametrize("failure", ["nothing listening", "wrong password", "missing database"])
@pytest.mark.parametrize(
    ("args", "doing"),
    [
        (("migrate",), None),  # its own wording (cli/migrate.py, with --wait): checked for one line only
        (("seed", "--limit", "10"), "seed the database"),
        (("serve", "--migrate"), "migrate the database before serving"),
        (("serve",), "check the database schema before serving"),
    ],
)
def test_database_failures_are_one_line(
    pg: PostgresCluster, args: tuple[str, ...], doing: str | None, failure: str
) -> None:
    url, says = failing_url(pg, failure)
    argv = [*args, "--port", str(free_port())] if args[0] == "serve" else list(args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    result = subprocess.run(
        [sys.executable, "-m", "cityscale", *argv],
        env={**env, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cityscale: cannot {doing}: " if doing else "cityscale: "), lines[0]
    assert says in lines[0]
    assert WRONG_PASSWORD not in result.stderr
