"""Who owns a stack's data directory right now, and what it runs: the lock file and the state file.

- `up.lock` is held with `flock` by the running `cityscale up` for its whole life. The kernel drops the
  lock when that process ends in any way (even SIGKILL), so a lock file left on disk never blocks the
  next run: only a live owner does.
- `state.json` describes the running stack (each component's pid, port, log) for `cityscale status`
  and for scripts that want to find or stop one part. It is written as soon as the ports are planned and
  rewritten after each part starts, so a part started by an `up` that is then killed is always on record;
  `ready` turns true only once every part is ready (the public URL serves), and false again when the
  stop begins. Readers that act on the stack wait for `ready`. It is updated when a component is
  restarted and removed on a clean stop; a stale one (its owner died) is recognised because the lock is
  free, and the next `up` uses it to clean up processes that owner left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

LOCK_NAME = "up.lock"
STATE_NAME = "state.json"


class StackBusyError(RuntimeError):
    """Another `cityscale up` owns this data directory."""


@dataclass(frozen=True)
class Component:
    """One running part of the stack as `cityscale status` and scripts see it."""

    name: str
    kind: str  # postgres | redis | api | nginx | prometheus | exporter
    pid: int | None
    port: int
    log: str
    started: float | None = None  # the process's create_time, so a recycled pid is never mistaken for it
    status_port: int | None = None  # nginx: its internal stub_status port
    role: str | None = None  # postgres: primary | replica

    def is_alive(self) -> bool:
        """The recorded process still exists (and is the same process, not a reused pid)."""
        if self.pid is None:
            return False
        try:
            process = psutil.Process(self.pid)
            if self.started is not None and abs(process.create_time() - self.started) > 1:
                return False
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


def process_start_time(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return None


@dataclass
class StackState:
    """The contents of `state.json`."""

    owner_pid: int
    data_dir: str
    url: str
    token_file: str
    # True once every part is ready; false while `up` is starting them or stopping them.
    ready: bool = False
    started_at: float = field(default_factory=time.time)
    components: dict[str, Component] = field(default_factory=dict)

    def save(self, data_dir: Path) -> None:
        # Written to a temp file and renamed, so a reader never sees half a document.
        path = data_dir / STATE_NAME
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
        temporary.replace(path)

    @classmethod
    def load(cls, data_dir: Path) -> StackState | None:
        """The recorded state, or None when there is none (or it is unreadable: it is advisory only)."""
        try:
            raw: dict[str, Any] = json.loads((data_dir / STATE_NAME).read_text())
            components = {name: Component(**value) for name, value in raw.pop("components", {}).items()}
            return cls(**raw, components=components)
        except (OSError, ValueError, TypeError):
            return None

    @staticmethod
    def remove(data_dir: Path) -> None:
        (data_dir / STATE_NAME).unlink(missing_ok=True)


class StackLock:
    """An exclusive, non-blocking `flock` on `<data_dir>/up.lock` for the life of one `cityscale up`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise `StackBusyError` naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            handle.close()
            raise StackBusyError(
                f"another `cityscale up` (pid {owner}) is already running on {self.path.parent}; "
                f"see `cityscale status --data-dir {self.path.parent}`, stop it with Ctrl-C or `kill {owner}`"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.truncate()
            self._file.close()  # closing drops the flock
            self._file = None

    def __enter__(self) -> StackLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def is_locked(data_dir: Path) -> bool:
    """True while some process holds the stack lock of `data_dir` (a running `up`)."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def wait_until_ready(data_dir: Path, timeout: float, *, owner_pid: int | None = None) -> StackState | None:
    """The state once a running `up` on `data_dir` reports every part ready; None after `timeout`.

    Polls rather than gives up at once when nothing runs yet: a caller may just have launched `up`,
    which takes the lock and writes its first state a moment later. `owner_pid`: only that `up` counts.
    """
    deadline = time.monotonic() + timeout
    while True:
        state = StackState.load(data_dir)
        if (
            state is not None
            and state.ready
            and (owner_pid is None or state.owner_pid == owner_pid)
            and is_locked(data_dir)
        ):
            return state
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
