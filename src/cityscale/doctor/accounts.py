"""Users and groups as the checked system defines them (`etc/passwd`, `etc/group` under the root).

Read from the files rather than through `pwd`/`grp`, so that `--root DIR` and fixture trees answer
for their own accounts, not for the machine the doctor happens to run on.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int  # primary group
    groups: frozenset[int]  # primary plus every group listing the user as a member


def _rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def group_names(root: Path) -> dict[int, str]:
    """gid -> name from `etc/group` under root (the first name wins, as getgrgid does)."""
    names: dict[int, str] = {}
    for row in _rows(root / "etc/group"):
        if len(row) >= 3 and row[2].isdigit():
            names.setdefault(int(row[2]), row[0])
    return names


def account(root: Path, name: str) -> Account | None:
    """The account `name` with all its groups, or None when `etc/passwd` under root has no such user."""
    for row in _rows(root / "etc/passwd"):
        if len(row) >= 4 and row[0] == name and row[2].isdigit() and row[3].isdigit():
            uid, gid = int(row[2]), int(row[3])
            break
    else:
        return None
    groups = {gid}
    for row in _rows(root / "etc/group"):
        if len(row) >= 4 and row[2].isdigit() and name in row[3].split(","):
            groups.add(int(row[2]))
    return Account(name, uid, gid, frozenset(groups))


def invoking_user(environ: Mapping[str, str]) -> str:
    """Who runs the doctor: the user behind `sudo` (root can open anything, the question is about them),
    else `USER`/`LOGNAME`, else the name of this process's uid."""
    for variable in ("SUDO_USER", "USER", "LOGNAME"):
        if environ.get(variable):
            return environ[variable]
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
