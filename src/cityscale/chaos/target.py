"""The stack under test: attach to a running `cityscale up` through its state file, or start one.

Everything the faults and checks act on is found the way an operator finds it: `state.json` (what
`cityscale status --json` prints) for pids and ports, the PostgreSQL clusters' own directories for
stop/start, `api-token` for writes. Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cityscale.stack.embedded import DATABASE_NAME
from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.state import Component, StackState, is_locked

UP_START_TIMEOUT = 300.0


class TargetError(RuntimeError):
    """The stack cannot be found or started; the message says why in one line."""


@dataclass(frozen=True)
class StackTarget:
    """A running `cityscale up` on `data_dir`."""

    data_dir: Path

    @property
    def state(self) -> StackState:
        """The current state file (re-read each time: `up` rewrites it when it restarts a part)."""
        state = StackState.load(self.data_dir)
        if state is None or not is_locked(self.data_dir):
            raise TargetError(f"no `cityscale up` is running on {self.data_dir}")
        if not state.ready:
            # Faults on a half-started (or stopping) stack would measure `up`, not the service.
            raise TargetError(
                f"the `cityscale up` on {self.data_dir} is not ready (starting or stopping its parts); "
                f"wait for it: cityscale status --data-dir {self.data_dir} --wait 300"
            )
        return state

    def component(self, name: str) -> Component:
        found = self.state.components.get(name)
        if found is None:
            raise TargetError(f"the stack on {self.data_dir} has no component {name!r}")
        return found

    def components_of_kind(self, kind: str) -> list[Component]:
        return [c for c in self.state.components.values() if c.kind == kind]

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def token(self) -> str:
        return Path(self.state.token_file).read_text().strip()

    @property
    def api_urls(self) -> dict[str, str]:
        return {c.name: f"http://127.0.0.1:{c.port}" for c in self.components_of_kind("api")}

    def cluster(self, name: str) -> PostgresCluster:
        """`primary` or `replica-N`, as a cluster that can be stopped, started and queried."""
        return PostgresCluster(self.data_dir / name)

    @property
    def replica_names(self) -> list[str]:
        return sorted(c.name for c in self.components_of_kind("postgres") if c.role == "replica")

    def database_url(self, name: str) -> str:
        return self.cluster(name).url(DATABASE_NAME)


@contextlib.contextmanager
def started_stack(data_dir: Path, *, replicas: int, instances: int, seed_limit: int | None) -> Iterator[StackTarget]:
    """Run `cityscale up` as a child process on `data_dir` until the block ends, then stop it (SIGINT)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if is_locked(data_dir):
        raise TargetError(f"a `cityscale up` already runs on {data_dir}: attach to it with --attach")
    argv = [
        sys.executable, "-m", "cityscale", "up", "--data-dir", str(data_dir), "--auto-ports",
        "--replicas", str(replicas), "--instances", str(instances), "--log-level", "warning",
    ]  # fmt: skip
    if seed_limit is not None:
        argv += ["--seed-limit", str(seed_limit)]
    log_path = data_dir.parent / f"{data_dir.name}-up.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + UP_START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise TargetError(f"`cityscale up` exited with status {process.returncode}; its log: {log_path}")
            state = StackState.load(data_dir)
            if state is not None and state.owner_pid == process.pid and state.ready:
                break
            if time.monotonic() > deadline:
                raise TargetError(f"`cityscale up` not ready after {UP_START_TIMEOUT:g} s; its log: {log_path}")
            time.sleep(0.2)
        yield StackTarget(data_dir)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
