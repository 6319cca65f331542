"""Fixture trees for `cityscale doctor --root`: a clean system, and each fault built for real on top.

Files are written where the doctor looks (`etc/docker/daemon.json`, `root/.bashrc`, ...); the
environment is an explicit mapping, never the test process's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cityscale.doctor.context import Context
from cityscale.doctor.report import Finding, Report
from cityscale.doctor.runner import run_checks

PATH = "/usr/local/bin:/usr/bin:/bin"
STOCK_UNIT = """[Service]
Type=notify
ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock
ExecReload=/bin/kill -s HUP $MAINPID
"""
DEBIAN_BASHRC = """# ~/.bashrc: executed by bash(1) for non-login shells.
case $- in
    *i*) ;;
      *) return;;
esac
#alias ll='ls -l'
if [ -f ~/.bash_aliases ]; then
    . ~/.bash_aliases
fi
"""


@dataclass
class World:
    root: Path
    environ: dict[str, str] = field(default_factory=lambda: {"PATH": PATH})

    def write(self, path: str, text: str | bytes) -> Path:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text, encoding="utf-8")
        return target

    def read(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text(encoding="utf-8")

    def context(self, **kwargs: object) -> Context:
        return Context(root=self.root, environ=dict(self.environ), **kwargs)  # type: ignore[arg-type]

    def check(self, check_id: str, **kwargs: object) -> Finding:
        return self.run(only=[check_id], **kwargs).by_id(check_id)

    def run(self, only: list[str] | None = None, skip: list[str] | None = None, **kwargs: object) -> Report:
        return run_checks(self.context(**kwargs), only or (), skip or ())


def clean_world(root: Path) -> World:
    """A healthy host: root and one user with Debian's start-up files, the docker client binary,
    a valid daemon.json and the stock unit, a little build cache."""
    world = World(root)
    world.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/usr/bin/zsh\n")
    world.write("/root/.bashrc", DEBIAN_BASHRC)
    world.write("/root/.bash_aliases", "alias ll='ls -alF'\n")
    world.write("/home/alice/.zshrc", "alias gs='git status'\nprecmd() { print -n '' }\n")
    docker = world.root / "usr/bin/docker"
    docker.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shutil.which("true") or "/bin/true", docker)  # a real ELF executable stands in for the client
    world.write(
        "/etc/docker/daemon.json",
        json.dumps({"log-driver": "json-file", "log-opts": {"max-size": "10m"}, "live-restore": True}, indent=2),
    )
    world.write("/lib/systemd/system/docker.service", STOCK_UNIT)
    world.write("/var/lib/docker/buildkit/snapshots/1/layer.tar", b"\0" * 4096)
    return world


@contextmanager
def immutable(path: Path) -> Iterator[str | None]:
    """Set the immutable attribute for real; yields None on success, else why it cannot be set here.

    Always clears it again, so pytest can delete the tree."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    try:
        yield None if done.returncode == 0 else (done.stderr.strip() or "chattr failed")
    finally:
        if done.returncode == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def sparse_file(path: Path, size: int) -> None:
    """A file whose apparent size is `size` without using the disk (stands in for a huge build cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize
