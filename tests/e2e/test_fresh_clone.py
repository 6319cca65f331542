"""The README's run command (`./scripts/run`) on a fresh clone brings up the whole topology and serves
/api/cities through nginx (issue 3, "Done when").

The clone is the repository's tracked files copied into an empty directory (what `git clone` gives on a
clean tree, and the working tree's versions while developing): no virtualenv, no `.cityscale`. Every
default is kept (data dir, replicas, instances, the full seed) except the port, which is a free one
because this machine is shared.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cityscale.stack.ports import free_port
from cityscale.stack.state import StackState, is_locked
from tests.e2e.up_process import processes_mentioning
from tests.support.servers import remove, scratch_dir

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 400  # uv sync of a new virtualenv, creation of both clusters, the full seed, on a busy box


@pytest.fixture
def clone() -> Iterator[Path]:
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=False, timeout=60)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.decode(errors='replace').strip()}")
    base = scratch_dir("fresh-clone")
    target = base / "cityscale"
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name, follow_symlinks=False)
    yield target
    for process in processes_mentioning(target):  # only after a failure: a passing test left nothing
        process.kill()
    remove(base)


def test_scripts_run_on_a_fresh_clone_serves_the_cities_through_nginx(clone: Path) -> None:
    assert not (clone / ".venv").exists()
    assert not (clone / ".cityscale").exists()
    port = free_port()
    # The environment of a person's shell: not this test run's virtualenv, nor its data dir.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT", "CITYSCALE_"))}
    log = clone.parent / "run.log"
    with log.open("wb") as output:
        # Its own session: a Ctrl-C below reaches the whole group, as a terminal's does.
        run = subprocess.Popen(
            ["./scripts/run", "--port", str(port)], cwd=clone, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    data_dir = clone / ".cityscale" / "stack"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ((state := StackState.load(data_dir)) is not None and state.ready and is_locked(data_dir)):
            assert run.poll() is None, f"scripts/run exited with {run.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"not ready after {START_TIMEOUT} s:\n{log.read_text()}"
            time.sleep(0.5)

        assert set(state.components) >= {"primary", "replica-1", "redis", "api-1", "api-2", "nginx"}
        answer = httpx.get(f"http://127.0.0.1:{port}/api/cities", params={"limit": 5}, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["server"] == "nginx"
        assert len(answer.json()) == 5
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)
        status = run.wait(120)
    assert status == 0, log.read_text()
    assert "stopped; every part is down" in log.read_text()
    assert processes_mentioning(clone) == []
