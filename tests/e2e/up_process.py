"""`cityscale up` as a real child process, the way a user runs it, for the end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from cityscale.stack.ports import free_port
from cityscale.stack.state import StackState, is_locked

SEED_LIMIT = 300  # the largest cities only: the first run stays short


@dataclass
class UpProcess:
    data_dir: Path
    extra_args: tuple[str, ...] = ()
    port: int | None = field(default_factory=free_port)  # None: `up`'s default port (8080)
    process: subprocess.Popen[bytes] | None = None

    @property
    def stderr_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-up-stderr.log"

    def argv(self) -> list[str]:
        port = [] if self.port is None else ["--port", str(self.port)]
        return [
            sys.executable, "-m", "cityscale", "up", "--data-dir", str(self.data_dir), *port,
            "--replicas", "1", "--instances", "2", "--seed-limit", str(SEED_LIMIT), "--nginx-workers", "1",
            "--log-level", "warning", *self.extra_args,
        ]  # fmt: skip

    def start(self, *, timeout: float = 180) -> UpProcess:
        """Start `up` and wait until its state says every part is ready."""
        with self.stderr_path.open("ab") as stderr:
            self.process = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"`cityscale up` exited with {self.process.returncode}:\n{self.output()}")
            state = StackState.load(self.data_dir)
            if state is not None and state.owner_pid == self.process.pid and state.ready:
                return self
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise AssertionError(f"`cityscale up` not ready after {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    @property
    def state(self) -> StackState:
        state = StackState.load(self.data_dir)
        assert state is not None, "no state file: `up` is not running"
        return state

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def token(self) -> str:
        return (self.data_dir / "api-token").read_text().strip()

    def status_json(self) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "cityscale", "status", "--data-dir", str(self.data_dir), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        document: dict[str, Any] = json.loads(result.stdout)
        document["exit_code"] = result.returncode
        return document

    def every_process(self) -> list[psutil.Process]:
        """`up` and everything it runs: its descendants, plus the PostgreSQL servers `pg_ctl` detached."""
        assert self.process is not None
        found = {self.process.pid: psutil.Process(self.process.pid)}
        roots = [found[self.process.pid]]
        roots += [
            psutil.Process(c.pid)
            for c in self.state.components.values()
            if c.pid is not None and psutil.pid_exists(c.pid)
        ]
        for root in roots:
            found[root.pid] = root
            for child in root.children(recursive=True):
                found[child.pid] = child
        return list(found.values())

    def stop(self, signum: int = signal.SIGINT, *, timeout: float = 90) -> int:
        """Send `signum` to `up` only (as a terminal's Ctrl-C would reach it) and wait for it to exit."""
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
        return self.process.wait(timeout)

    def kill_leftovers(self) -> None:
        """Test clean-up after a failure: whatever is still running is killed, nothing outlives the test."""
        survivors = []
        if self.process is not None and self.process.poll() is None:
            survivors = self.every_process()
            self.stop(signal.SIGINT)
        for process in [*survivors, *processes_mentioning(self.data_dir)]:
            with contextlib.suppress(psutil.Error):
                process.kill()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None and is_locked(self.data_dir)


def processes_mentioning(path: Path) -> list[psutil.Process]:
    """Processes whose command line names `path`: every server of a stack does (its data dir or config)."""
    needle = str(path)
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.pid != os.getpid() and any(needle in part for part in cmdline):
            found.append(process)
    return found
