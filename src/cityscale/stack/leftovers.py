"""Processes a previous `cityscale up` left running because it was killed (SIGKILL, OOM, power cut).

Called by the new owner once it holds the data dir's lock: anything still running from that data dir
belongs to no live `up`, so it is stopped before ports are planned (it would hold them) and started
afresh. The API instances, Redis and nginx are found through the stale state file (each led a process
group of its own, whose workers may outlive the leader); PostgreSQL through its own pid file, so even
without a state file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import psutil

from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.state import StackState


def stop_leftovers(data_dir: Path, say: Callable[[str], None]) -> None:
    """Stop every server a dead owner of `data_dir` left running, and forget its state file.

    In the reverse of the start order, as a clean stop does: the clients (nginx, the instances) before
    Redis and PostgreSQL, so an instance still booting does not fail on a database stopped under it.
    """
    stale = StackState.load(data_dir)
    for component in reversed(list(stale.components.values()) if stale is not None else []):
        if component.kind == "postgres" or component.pid is None:
            continue
        group = _process_group(component.pid, not_before=component.started)
        if group:
            say(f"stopping {component.name} (pid {component.pid}) left running by a previous `up`")
            _stop_all(group)
    for state_file in sorted(data_dir.glob("*/cluster.json")):
        cluster = PostgresCluster(state_file.parent)
        if cluster.exists and cluster.is_running():
            # Stopped (fast: a clean checkpoint) and started again by the new owner, on the port planned now.
            say(f"stopping {cluster.base.name} left running by a previous `up`")
            cluster.stop()
    StackState.remove(data_dir)


def _process_group(pgid: int, *, not_before: float | None) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter(["pid", "create_time"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == pgid and (not_before is None or process.create_time() >= not_before - 1):
                members.append(process)
    return members


def _stop_all(processes: list[psutil.Process], timeout: float = 10) -> None:
    for member in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
