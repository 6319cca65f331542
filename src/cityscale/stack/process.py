"""Child processes of the launcher: start, wait for readiness, stop gracefully, always reap."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path


class StartupError(RuntimeError):
    """A component did not become ready; the message includes the end of its log."""


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class ManagedProcess:
    """One long-running child with its output in a log file, in its own process group."""

    # The signal that asks the program for its graceful stop (nginx: SIGQUIT; SIGTERM is its fast stop).
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own group: Ctrl-C reaches it only through us
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            assert self.process is not None  # noqa: S101
            os.kill(self.process.pid, signum)

    def stop(self, timeout: float = 15) -> int | None:
        """`stop_signal`, wait up to `timeout`, then SIGKILL the whole group; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
        self._kill_group()  # reap anything the child left behind in its group
        return self.process.wait()

    def kill(self) -> None:
        if self.process is not None:
            self._kill_group()
            self.process.wait()

    def _kill_group(self) -> None:
        assert self.process is not None  # noqa: S101
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def wait_for_http(url: str, *, timeout: float, process: ManagedProcess | None = None, expect: int = 200) -> None:
    """Poll `url` until it answers `expect`; fail early when the process died."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.process is not None and process.process.poll() is not None:
            raise StartupError(
                f"{process.name} exited with status {process.process.returncode}; its log "
                f"({process.log_path}) ends with:\n{tail(process.log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
                if response.status == expect:
                    return
                last_error = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"status {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.05)
    log_hint = f"; its log ends with:\n{tail(process.log_path)}" if process else ""
    raise StartupError(f"{url} not ready after {timeout:g} s ({last_error}){log_hint}")
