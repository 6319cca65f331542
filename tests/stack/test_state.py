"""The stack lock: one owner at a time, named when busy, and never left stale by an owner that died."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cityscale.stack.state import Component, StackBusyError, StackLock, StackState, is_locked, process_start_time

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
