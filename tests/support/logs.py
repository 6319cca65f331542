"""Reading a log that is written after the response (nginx buffers its access log for up to a second)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def wait_for_lines(
    path: Path, count: int = 1, *, matching: Callable[[str], bool] = lambda _: True, timeout: float = 5
) -> list[str]:
    """The lines of `path` that match, once there are at least `count` of them or `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in path.read_text().splitlines() if matching(line)]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)
