"""The uid listening on a TCP port, from `/proc/net/tcp{,6}`: readable by any user.

As non-root, another user's process has no visible pid (its `/proc/PID/fd` is closed to us), so
psutil cannot name it; the kernel's socket table still carries the owning uid, which is enough to
say "held by root" and point at the command that shows the rest (research/doctor.md B4).
"""

from __future__ import annotations

import pwd
from pathlib import Path

_LISTEN = "0A"  # TCP_LISTEN in include/net/tcp_states.h
_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


def listening_uid(port: int, tables: tuple[Path, ...] = _TABLES) -> int | None:
    """The uid of a socket listening on `port` (any address, IPv4 or IPv6), None when none is listed."""
    for table in tables:
        try:
            lines = table.read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # sl local_address rem_address st tx:rx tr:tm retrnsmt uid ...; the port is big-endian hex
            if len(fields) > 7 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return int(fields[7])
    return None


def user_label(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"
