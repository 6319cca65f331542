"""The chaos target acts only on a stack whose `up` says every part is ready."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cityscale.chaos.target import StackTarget, TargetError
from cityscale.stack.state import StackLock, StackState


def test_a_stack_still_starting_is_refused_and_a_ready_one_is_used(tmp_path: Path) -> None:
    state = StackState(owner_pid=os.getpid(), data_dir=str(tmp_path), url="http://127.0.0.1:1", token_file="/t")
    with StackLock(tmp_path):
        state.save(tmp_path)  # ready=False: `up` is still starting its parts
        with pytest.raises(TargetError, match=r"is not ready \(starting or stopping its parts\)"):
            _ = StackTarget(tmp_path).state
        state.ready = True
        state.save(tmp_path)
        assert StackTarget(tmp_path).url == "http://127.0.0.1:1"
    with pytest.raises(TargetError, match="no `cityscale up` is running"):
        _ = StackTarget(tmp_path).state
