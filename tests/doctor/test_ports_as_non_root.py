"""network.ports run by a non-root user (the real CLI under setpriv as `nobody`) against a port a
root-owned process holds: the owner is hidden from that user, the port is still reported taken."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityscale.doctor.listen_owner import listening_uid
from cityscale.stack.ports import free_port
from tests.doctor.listeners import python_listener
from tests.doctor.worlds import PATH


@pytest.fixture
def open_root() -> Iterator[Path]:
    """An empty fixture root `nobody` can enter (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="doctor-ports-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def doctor_as(user: str, root: Path, port: int) -> tuple[int, dict[str, object]]:
    account = pwd.getpwnam(user)
    argv = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]
    argv += [sys.executable, "-m", "cityscale", "doctor", "--root", str(root), "--json"]
    argv += ["--only", "network.ports", "--port", str(port)]
    env = {"PATH": PATH, "LANG": "C.UTF-8", "HOME": str(root)}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env, cwd=root)
    assert done.stdout, done.stderr
    document = json.loads(done.stdout)
    return done.returncode, document["checks"][0]


def test_a_port_held_by_root_is_taken_for_nobody_with_the_hidden_owner_explained(open_root: Path) -> None:
    assert os.getuid() == 0, "the suite runs as root here; this test needs it to run the probe as another user"
    port = free_port()
    with python_listener(port):  # owned by root, this test's user
        code, finding = doctor_as("nobody", open_root, port)
        assert listening_uid(port) == 0
    nobody = pwd.getpwnam("nobody").pw_uid
    assert code == 2
    assert finding["status"] == "fail"
    assert finding["evidence"] == [
        f"port {port} is taken by a process of uid 0 (root) whose pid and program are hidden from uid {nobody} "
        "(only root sees other users' sockets); needed for the stack"
    ]
    assert f"sudo ss -ltnp 'sport = :{port}'   # names the hidden owner" in str(finding["remediation"])


def test_the_same_port_as_root_names_the_process(open_root: Path) -> None:
    port = free_port()
    with python_listener(port) as proc:
        code, finding = doctor_as("root", open_root, port)
    assert code == 2
    assert finding["status"] == "fail"
    assert f"(pid {proc.pid}, user root)" in str(finding["evidence"])
    assert "sudo ss" not in str(finding["remediation"])


def test_a_free_port_is_ok_for_nobody(open_root: Path) -> None:
    code, finding = doctor_as("nobody", open_root, free_port())
    assert (code, finding["status"]) == (0, "ok")
