"""The stack lock: one owner at a time, named when busy, and never left stale by an owner that died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from cityscale.stack.state import (
    Component,
    StackBusyError,
    StackLock,
    StackState,
    is_locked,
    process_start_time,
    wait_until_ready,
)
from cityscale.stack.status import stack_status

HOLD_LOCK = """
import sys, time
from pathlib import Path
from cityscale.stack.state import StackLock
lock = StackLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
time.sleep(120)
"""


def hold_lock_in_child(data_dir: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(data_dir)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    child.stdout.close()
    return child


def test_a_second_owner_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    child = hold_lock_in_child(tmp_path)
    try:
        assert is_locked(tmp_path)
        with pytest.raises(StackBusyError, match=rf"another `cityscale up` \(pid {child.pid}\) is already running"):
            StackLock(tmp_path).acquire()
    finally:
        child.kill()
        child.wait()


def test_an_owner_killed_with_sigkill_leaves_no_stale_lock(tmp_path: Path) -> None:
    child = hold_lock_in_child(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (tmp_path / "up.lock").exists()  # the file stays; only a live owner's flock counts
    assert not is_locked(tmp_path)
    with StackLock(tmp_path):
        assert is_locked(tmp_path)
    assert not is_locked(tmp_path)


def test_state_round_trips_and_recognises_a_recycled_pid(tmp_path: Path) -> None:
    me = psutil.Process()
    alive = Component("api-1", "api", me.pid, 1234, "/x.log", process_start_time(me.pid))
    recycled = Component("api-2", "api", me.pid, 1235, "/y.log", me.create_time() - 3600)
    StackState(owner_pid=me.pid, data_dir=str(tmp_path), url="http://127.0.0.1:1", token_file="/t",
               components={"api-1": alive, "api-2": recycled}).save(tmp_path)  # fmt: skip
    loaded = StackState.load(tmp_path)
    assert loaded is not None
    assert loaded.components["api-1"] == alive
    assert loaded.components["api-1"].is_alive()
    assert not loaded.components["api-2"].is_alive()
    StackState.remove(tmp_path)
    assert StackState.load(tmp_path) is None


def test_a_dead_process_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_start_time(child.pid)
    child.wait()
    time.sleep(0.05)
    assert not Component("x", "api", child.pid, 1, "", started).is_alive()


def test_an_unreadable_state_file_is_treated_as_none(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    assert StackState.load(tmp_path) is None


def _state(tmp_path: Path, *, ready: bool, owner_pid: int | None = None) -> StackState:
    return StackState(owner_pid=owner_pid or os.getpid(), data_dir=str(tmp_path), url="http://127.0.0.1:1",
                      token_file="/t", ready=ready)  # fmt: skip


def test_ready_round_trips_and_an_older_state_file_is_not_ready(tmp_path: Path) -> None:
    _state(tmp_path, ready=True).save(tmp_path)
    loaded = StackState.load(tmp_path)
    assert loaded is not None
    assert loaded.ready is True
    raw = json.loads((tmp_path / "state.json").read_text())
    del raw["ready"]
    (tmp_path / "state.json").write_text(json.dumps(raw))
    loaded = StackState.load(tmp_path)
    assert loaded is not None
    assert loaded.ready is False


def test_waiting_for_ready_needs_the_flag_and_a_live_owner(tmp_path: Path) -> None:
    _state(tmp_path, ready=True).save(tmp_path)
    assert wait_until_ready(tmp_path, 0.3) is None  # ready on disk, but no `up` holds the lock
    child = hold_lock_in_child(tmp_path)
    try:
        _state(tmp_path, ready=False, owner_pid=child.pid).save(tmp_path)
        assert wait_until_ready(tmp_path, 0.3) is None  # still starting
        _state(tmp_path, ready=True, owner_pid=child.pid).save(tmp_path)
        assert wait_until_ready(tmp_path, 0.3, owner_pid=child.pid + 1) is None  # another owner's
        found = wait_until_ready(tmp_path, 5, owner_pid=child.pid)
        assert found is not None
        assert found.owner_pid == child.pid
    finally:
        child.kill()
        child.wait()


def test_status_is_never_healthy_before_ready(tmp_path: Path) -> None:
    child = hold_lock_in_child(tmp_path)
    try:
        _state(tmp_path, ready=False, owner_pid=child.pid).save(tmp_path)
        starting = stack_status(tmp_path)
        assert (starting.running, starting.ready, starting.healthy) == (True, False, False)
        assert starting.as_dict()["ready"] is False
        shown = _status_cli(tmp_path)
        assert shown.returncode == 1
        assert "not ready: still starting or stopping" in shown.stdout

        _state(tmp_path, ready=True, owner_pid=child.pid).save(tmp_path)
        ready = stack_status(tmp_path)
        assert (ready.running, ready.ready, ready.healthy) == (True, True, True)  # (no parts to probe here)
        assert _status_cli(tmp_path).returncode == 0
    finally:
        child.kill()
        child.wait()


def test_status_wait_returns_once_the_stack_is_ready(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cityscale.cli.status import command

    child = hold_lock_in_child(tmp_path)
    try:
        _state(tmp_path, ready=False, owner_pid=child.pid).save(tmp_path)
        flipped = threading.Timer(1.0, lambda: _state(tmp_path, ready=True, owner_pid=child.pid).save(tmp_path))
        flipped.start()
        result = CliRunner().invoke(command, ["--data-dir", str(tmp_path), "--json", "--wait", "60"])
        flipped.join()
        assert result.exit_code == 0, result.output  # without --wait it would answer "not ready" at once
        assert json.loads(result.output)["ready"] is True
    finally:
        child.kill()
        child.wait()


def _status_cli(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityscale", "status", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
