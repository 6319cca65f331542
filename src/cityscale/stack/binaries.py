"""Finding the machine's server binaries, and installing them with apt when allowed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# Where server binaries live besides PATH: Debian puts nginx in /usr/sbin, which a non-root PATH lacks.
SBIN_DIRS = "/usr/sbin:/usr/local/sbin:/sbin"
# Debian's versioned PostgreSQL server binaries: /usr/lib/postgresql/<major>/bin (not on any PATH).
POSTGRES_ROOT = Path("/usr/lib/postgresql")


class MissingBinaryError(RuntimeError):
    """A server binary is not installed; the message carries the exact command that installs it."""


def _is_root() -> bool:
    return os.geteuid() == 0


def apt_install_command(packages: list[str]) -> str:
    prefix = "" if _is_root() else "sudo "
    return f"{prefix}apt-get update && {prefix}apt-get install -y {' '.join(packages)}"


def can_apt_install() -> bool:
    """apt is used only as root (it would fail otherwise), and only on a machine that has it."""
    return _is_root() and shutil.which("apt-get") is not None


def apt_install(packages: list[str]) -> None:
    """Install Debian packages non-interactively, showing progress on stderr."""
    print(f"installing {' '.join(packages)} with apt-get ...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        try:
            subprocess.run(argv, check=True, env=env)
        except (subprocess.CalledProcessError, OSError) as exc:
            # apt's own messages are on stderr above; this line says what failed and what to run.
            status = f"status {exc.returncode}" if isinstance(exc, subprocess.CalledProcessError) else str(exc)
            raise MissingBinaryError(
                f"`{' '.join(argv)}` failed ({status}); install by hand: {apt_install_command(packages)}"
            ) from None


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
        (p for p in POSTGRES_ROOT.glob("*/bin") if (p / "initdb").exists()),
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
    path = shutil.which(name) or shutil.which(name, path=SBIN_DIRS)
    return Path(path) if path else None
