"""Several worker processes per instance: prometheus_client's multiprocess mode, set up by `serve`.

Each worker writes its counters and histograms to memory-mapped files in `PROMETHEUS_MULTIPROC_DIR`
and `/metrics` sums them. The directory must be empty when the server starts (files of an earlier
run would be summed in), and the variable must be set before any worker imports prometheus_client.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(environ: dict[str, str] | None = None) -> Path:
    """Point `PROMETHEUS_MULTIPROC_DIR` at an empty directory (a given one is emptied); returns it."""
    env = os.environ if environ is None else environ
    given = env.get(MULTIPROC_ENV, "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="cityscale-metrics-"))
    env[MULTIPROC_ENV] = str(path)
    return path


def remove_multiprocess_dir(path: Path, *, created: bool) -> None:
    if created:
        shutil.rmtree(path, ignore_errors=True)
