"""Live progress on stderr, once a second: a line that rewrites itself on a terminal, plain lines otherwise."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from cityscale.loadtest.runner import Progress

INTERVAL = 1.0


async def show_progress(progress: Progress, duration: float, out: TextIO = sys.stderr) -> None:
    """Runs until cancelled."""
    loop = asyncio.get_running_loop()
    on_terminal = out.isatty()
    last_answered = 0
    while True:
        await asyncio.sleep(INTERVAL)
        stats = progress.stats
        answered = stats.responses
        elapsed = max(0.0, loop.time() - progress.started_at)
        latency = stats.latency_ms()
        line = (
            f"{min(elapsed, duration):5.1f}/{duration:g}s  sent {progress.dispatched:,}  answered {answered:,}  "
            f"{(answered - last_answered) / INTERVAL:,.0f} req/s  p99 {latency['p99']:.1f} ms  "
            f"errors {sum(stats.errors.values()):,}"
        )
        last_answered = answered
        out.write(f"\r\x1b[K{line}" if on_terminal else f"{line}\n")
        out.flush()
