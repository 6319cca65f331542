"""Finding and decoding `daemon.json` exactly as dockerd does (BOM detection, empty file = empty config).

Shared by the daemon.json checks; not a check itself. Paths: `/etc/docker/daemon.json`, and the rootless
daemon's `~/.config/docker/daemon.json` for each user (research/doctor.md B2).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from cityscale.doctor.context import Context
from cityscale.doctor.daemon_keys import ENGINE_VERSIONS, nearest_known_version
from cityscale.doctor.paths import is_file

SYSTEM_FILE = "/etc/docker/daemon.json"


@dataclass(frozen=True)
class DaemonJson:
    path: Path  # local path
    shown: str  # as the checked system names it
    text: str  # decoded, BOM removed
    encoding: str  # how to write it back unchanged ("utf-8-sig" keeps a BOM)
    data: dict[str, object] | None  # None when it does not parse
    error: str | None

    @property
    def has_bom(self) -> bool:
        return self.encoding != "utf-8"


def daemon_json_files(ctx: Context) -> list[DaemonJson]:
    paths = [ctx.path(SYSTEM_FILE)] + [ctx.path(u.home / ".config/docker/daemon.json") for u in ctx.users]
    return [_load(ctx, p) for p in dict.fromkeys(paths) if is_file(p)]


def _load(ctx: Context, path: Path) -> DaemonJson:
    shown = ctx.display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return DaemonJson(path, shown, "", "utf-8", None, f"cannot read: {exc.strerror}")
    if raw.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return DaemonJson(path, shown, "", encoding, None, f"not valid {encoding} text: {exc.reason}")
    if not text.strip():
        return DaemonJson(path, shown, text, encoding, {}, None)  # dockerd: empty file = empty config
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return DaemonJson(path, shown, text, encoding, None, f"{exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(data, dict):
        return DaemonJson(
            path, shown, text, encoding, None, f"the top level is a JSON {type(data).__name__}, not an object"
        )
    return DaemonJson(path, shown, text, encoding, data, None)


def engine_version(ctx: Context) -> str | None:
    """The installed Engine version from `dockerd --version` (live system only)."""
    if not ctx.live:
        return None
    result = ctx.run(["dockerd", "--version"])
    if result is None or result.returncode != 0:
        return None
    match = re.search(r"version (\d+\.\d+\.\d+)", result.stdout)
    return match.group(1) if match else None


def versions_to_check(ctx: Context) -> tuple[tuple[str, ...], str]:
    """The measured Engine versions to judge keys against, and a sentence saying why."""
    installed = engine_version(ctx)
    nearest = nearest_known_version(installed)
    if installed and nearest:
        return (nearest,), f"Docker Engine {installed} installed; judged with the key table of {nearest}"
    return ENGINE_VERSIONS, f"Engine version unknown; judged against Engine {', '.join(ENGINE_VERSIONS)}"
