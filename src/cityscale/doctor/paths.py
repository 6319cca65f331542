"""Existence tests that answer False instead of raising when permission is denied.

The doctor also runs as a normal user, who cannot look inside `/root` or another user's home:
an unreadable place is "not found here", never a crash of the check.
"""

from __future__ import annotations

from pathlib import Path


def is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False
