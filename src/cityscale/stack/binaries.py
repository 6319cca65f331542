"""Finding the machine's server binaries, and installing them with apt when allowed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


class MissingBinaryError(RuntimeError):
    """A server binary is not installed; the message carries the exact command that installs it."""


def apt_install_command(packages: list[str]) -> str:
    prefix = "" if os.geteuid() == 0 else "sudo "
    return f"{prefix}apt-get update && {prefix}apt-get install -y {' '.join(packages)}"


def can_apt_install() -> bool:
    """apt is used only as root, on a machine that has it, and never inside CI-less scripts by surprise."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(packages: list[str]) -> None:
    """Install Debian packages non-interactively, showing progress on stderr."""
    print(f"installing {' '.join(packages)} with apt-get ...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def postgres_bin_dir(*, install: bool = True) -> Path:
    """The directory of the newest installed PostgreSQL server binaries (initdb, pg_ctl, postgres)."""
    found = _find_postgres_bin_dir()
    if found is None and install and can_apt_install():
        apt_install(["postgresql"])
        found = _find_postgres_bin_dir()
    if found is None:
        raise MissingBinaryError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with: "
            + apt_install_command(["postgresql"])
        )
    return found


def _find_postgres_bin_dir() -> Path | None:
    debian = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def require_binary(name: str, package: str, *, install: bool = True) -> Path:
    """Path of a binary on PATH (or in /usr/sbin); installs `package` with apt when allowed."""
    found = _which(name)
    if found is None and install and can_apt_install():
        apt_install([package])
        found = _which(name)
    if found is None:
        raise MissingBinaryError(f"{name} not found; install it with: {apt_install_command([package])}")
    return found


def _which(name: str) -> Path | None:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    return Path(path) if path else None
