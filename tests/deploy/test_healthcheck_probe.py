"""The image's healthcheck command (the Dockerfile's HEALTHCHECK, repeated in compose.yaml) works:
run unchanged but for the port against a real API instance it exits 0, and against a port nothing
listens on it exits non-zero, within its own timeout, so Docker marks the container unhealthy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cityscale.stack.ports import free_port
from tests.deploy.kit import compose
from tests.support.servers import api_instance


def probe(port: int) -> subprocess.CompletedProcess[str]:
    argv = compose()["services"]["api"]["healthcheck"]["test"]
    assert argv[:3] == ["CMD", "python", "-c"]
    code = argv[3]
    assert "127.0.0.1:3000/healthz" in code
    return subprocess.run(
        [sys.executable, "-c", code.replace(":3000/", f":{port}/")],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_healthcheck_passes_against_a_live_instance(api_env: dict[str, str], tmp_path: Path) -> None:
    with api_instance(api_env, tmp_path) as api:
        result = probe(api.port)
        assert result.returncode == 0, result.stderr


def test_healthcheck_fails_when_nothing_answers() -> None:
    assert probe(free_port()).returncode != 0
