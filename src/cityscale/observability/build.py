"""Which source the running code came from: the `commit` label of `cityscale_build_info`.

An image gets it as a build arg (`CITYSCALE_COMMIT`). `cityscale up` runs the code of the checkout it is
started from, so it reads that checkout's HEAD with git and hands it to every instance in the same
variable; without git, or from an installed wheel, the label stays `unknown`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

COMMIT_ENV = "CITYSCALE_COMMIT"
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def source_commit(package_dir: Path = PACKAGE_DIR) -> str | None:
    """HEAD of the git checkout `package_dir` is tracked in; None when it is not in one (or no git)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        # The package's own file must be tracked there: a wheel installed into a virtualenv that sits
        # inside some other checkout is not that checkout's code.
        tracked = _git(git, package_dir, "ls-files", "--error-unmatch", "__init__.py")
        head = _git(git, package_dir, "rev-parse", "HEAD") if tracked.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None
    if head is None or head.returncode != 0:
        return None
    commit = head.stdout.strip()
    return commit if _FULL_SHA.fullmatch(commit) else None


def _git(git: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [git, "-C", str(cwd), *args], capture_output=True, text=True, timeout=10, check=False, stdin=subprocess.DEVNULL
    )


def commit_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`{CITYSCALE_COMMIT: ...}` for a child instance: the caller's own setting wins, else the checkout's
    HEAD; empty when neither is known (the instance then reports `unknown`)."""
    env = os.environ if environ is None else environ
    commit = env.get(COMMIT_ENV, "").strip() or source_commit()
    return {COMMIT_ENV: commit} if commit else {}
