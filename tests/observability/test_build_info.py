"""cityscale_build_info says which commit runs: `cityscale up` hands its checkout's HEAD to every instance."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from cityscale import __version__
from cityscale.observability.build import COMMIT_ENV, PACKAGE_DIR, commit_env, source_commit
from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.redis import RedisServer
from cityscale.stack.supervisor import Stack
from cityscale.stack.topology import Topology
from tests.observability.scrape import scrape, value
from tests.support.servers import api_instance


@pytest.fixture
def head() -> str:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    result = subprocess.run(
        ["git", "-C", str(PACKAGE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip("not running from a git checkout")
    return result.stdout.strip()


def test_source_commit_is_the_checkouts_head(head: str) -> None:
    assert source_commit() == head


def test_code_outside_a_checkout_has_no_commit(tmp_path: Path) -> None:
    copy = tmp_path / "cityscale"
    copy.mkdir()
    shutil.copy(PACKAGE_DIR / "__init__.py", copy / "__init__.py")  # as an installed wheel's package
    assert source_commit(copy) is None


def test_commit_env_prefers_an_explicit_setting(head: str) -> None:
    assert commit_env({COMMIT_ENV: "v1.2.3"}) == {COMMIT_ENV: "v1.2.3"}
    assert commit_env({}) == {COMMIT_ENV: head}


def test_up_gives_every_instance_the_checkouts_commit(
    head: str, pg: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(COMMIT_ENV, raising=False)
    stack = Stack(Topology(tmp_path / "stack", replicas=0))
    stack.primary = pg  # the suite's running primary stands in for the stack's
    stack.redis = RedisServer(tmp_path / "redis", port=6399)  # only its URL is read; nothing starts
    assert stack.instance_env("token")[COMMIT_ENV] == head


@pytest.mark.slow
def test_an_instance_started_with_that_env_reports_the_commit(
    head: str, api_env: dict[str, str], tmp_path: Path
) -> None:
    with api_instance({**api_env, **commit_env({})}, tmp_path) as api:

        async def read() -> float:
            async with httpx.AsyncClient(timeout=10) as client:
                samples = await scrape(client, api.url)
            return value(samples, "cityscale_build_info", version=__version__, commit=head)

        assert asyncio.run(read()) == 1
