"""Stop signals for a supervisor: turned into an exception while running, ignored while cleaning up."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

# Ctrl-C, `kill`, and the terminal closing: each stops the stack cleanly rather than orphaning it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Shutdown(Exception):
    """A stop signal (SIGINT, SIGTERM, SIGHUP) arrived: stop everything."""


def _raise_shutdown(_signum: int, _frame: FrameType | None) -> None:
    raise Shutdown


@contextlib.contextmanager
def stop_signals_raise_shutdown() -> Iterator[None]:
    """Inside: a stop signal raises `Shutdown` in the main thread, wherever it is waiting."""
    previous = {sig: signal.signal(sig, _raise_shutdown) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def stop_signals_ignored() -> Iterator[None]:
    """Inside: stop signals are ignored, so a second Ctrl-C cannot cut a clean-up short."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
