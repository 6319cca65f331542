"""`--record-writes FILE`: one JSON line per write with what the service answered.

A later chaos run checks that every acknowledged write (a 2xx) is still there after failures, so
each line carries the resource id (from the response body, else `Location`, else the request path),
the status, and the response body as text. Request headers are never written (they hold the token).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO

import orjson

_ID_IN_PATH = re.compile(r"/(\d+)(?:[/?#]|$)")


def resource_id(body: bytes | None, location: str | None, path: str) -> int | str | None:
    if body:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("id"), int | str):
            found: int | str = document["id"]
            return found
    for source in (location, path):
        match = _ID_IN_PATH.search(source or "")
        if match:
            return int(match.group(1))
    return None


class WriteRecorder:
    """Appends lines as writes complete, in completion order.

    Unbuffered with O_APPEND: each line is one write(2) at the end of the file, so several generator
    processes can share the file without splitting each other's lines.
    """

    def __init__(self, path: Path, *, truncate: bool = True) -> None:
        try:
            self._file: IO[bytes] = path.open("wb" if truncate else "ab", buffering=0)
        except OSError as exc:
            raise ValueError(f"--record-writes {path}: {exc.strerror or exc}") from None
        self.count = 0

    def record(
        self,
        *,
        scheduled_at: float,
        method: str,
        path: str,
        request_body: str | None,
        status: int | None,
        body: bytes | None,
        location: str | None,
        error: str | None,
    ) -> None:
        line = {
            "scheduled_at": round(scheduled_at, 6),  # seconds after the run started
            "method": method,
            "path": path,
            "request_body": request_body,
            "status": status,
            "acknowledged": status is not None and 200 <= status < 300,
            "id": resource_id(body, location, path) if error is None else None,
            "location": location,
            "body": body.decode("utf-8", "replace") if body is not None else None,
            "error": error,
        }
        self._file.write(orjson.dumps(line) + b"\n")
        self.count += 1

    def close(self) -> None:
        self._file.close()
