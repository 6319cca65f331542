"""host.docker-socket: a real unix socket in a fixture root, owned root:docker 0660, judged for a member,
a non-member, root and the user behind sudo; and the verdict checked against the kernel itself by
connecting as each fixture user (setpriv), so the computed answer cannot drift from reality."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityscale.doctor.report import Status
from tests.doctor.worlds import World, clean_world

DOCKER_GID = 998
ALICE, BOB = 1000, 1001  # alice is in group docker, bob is not
CONNECT = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"


@pytest.fixture
def socket_world() -> Iterator[tuple[World, Path]]:
    """A clean fixture under a world-traversable directory (pytest's tmp_path is 0700, which would
    stop the fixture users before the socket's own mode is ever consulted), with a listening socket."""
    base = Path(tempfile.mkdtemp(prefix="doctor-sock-", dir="/tmp"))
    base.chmod(0o755)
    world = clean_world(base / "root")
    world.write("/etc/passwd", world.read("/etc/passwd") + "bob:x:1001:1001::/home/bob:/bin/bash\n")
    world.write("/etc/group", f"root:x:0:\ndocker:x:{DOCKER_GID}:alice\nalice:x:1000:\nbob:x:1001:\n")
    path = world.root / "var/run/docker.sock"
    path.parent.mkdir(parents=True)
    for part in (world.root, world.root / "var", path.parent):
        part.chmod(0o755)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()
    os.chown(path, 0, DOCKER_GID)
    path.chmod(0o660)
    try:
        yield world, path
    finally:
        listener.close()
        shutil.rmtree(base)


def kernel_allows(path: Path, uid: int, groups: list[int]) -> bool:
    """Connect for real as `uid` with exactly `groups` (what a fresh login of that user would have)."""
    argv = ["setpriv", f"--reuid={uid}", f"--regid={groups[0]}", f"--groups={','.join(map(str, groups))}"]
    argv += [sys.executable, "-c", CONNECT, str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 or "PermissionError" in done.stderr, done.stderr
    return done.returncode == 0


def test_a_member_of_the_sockets_group_can_reach_it(socket_world: tuple[World, Path]) -> None:
    world, path = socket_world
    world.environ["USER"] = "alice"
    finding = world.check("host.docker-socket")
    assert finding.status is Status.OK, finding
    assert finding.outcome.summary == "alice can read and write /var/run/docker.sock (as its group)"
    assert "/var/run/docker.sock: owner uid 0, group docker (gid 998), mode srw-rw----" in finding.outcome.evidence
    assert kernel_allows(path, ALICE, [ALICE, DOCKER_GID])


def test_a_user_outside_the_group_is_told_to_join_it(socket_world: tuple[World, Path]) -> None:
    world, path = socket_world
    world.environ["USER"] = "bob"
    finding = world.check("host.docker-socket")
    assert finding.status is Status.FAIL
    assert finding.outcome.summary.startswith("bob cannot open /var/run/docker.sock")
    assert "user bob (uid 1001), groups: bob" in finding.outcome.evidence
    assert finding.outcome.remediation.startswith("sudo usermod -aG docker bob")
    assert not kernel_allows(path, BOB, [BOB])


def test_under_sudo_the_invoking_user_is_judged_not_root(socket_world: tuple[World, Path]) -> None:
    world, _ = socket_world
    world.environ.update({"USER": "root", "SUDO_USER": "bob"})
    assert world.check("host.docker-socket").status is Status.FAIL
    del world.environ["SUDO_USER"]
    finding = world.check("host.docker-socket")
    assert finding.status is Status.OK
    assert finding.outcome.summary == "root is root: the socket's mode does not apply"


def test_a_socket_without_group_permissions_needs_chmod(socket_world: tuple[World, Path]) -> None:
    world, path = socket_world
    path.chmod(0o600)
    world.environ["USER"] = "alice"
    finding = world.check("host.docker-socket")
    assert finding.status is Status.FAIL
    assert "sudo chmod 660 /var/run/docker.sock" in finding.outcome.remediation
    assert "usermod" not in finding.outcome.remediation  # she is already in the group
    assert not kernel_allows(path, ALICE, [ALICE, DOCKER_GID])


def test_a_root_group_socket_is_not_fixed_by_joining_root(socket_world: tuple[World, Path]) -> None:
    world, path = socket_world
    os.chown(path, 0, 0)
    world.environ["USER"] = "bob"
    remediation = world.check("host.docker-socket").outcome.remediation
    assert "sudo groupadd -f docker && sudo chgrp docker /var/run/docker.sock" in remediation
    assert "sudo usermod -aG docker bob" in remediation
    assert "-aG root" not in remediation


def test_docker_host_names_the_socket_to_check(socket_world: tuple[World, Path]) -> None:
    world, path = socket_world
    moved = world.root / "run/user-docker.sock"
    moved.parent.mkdir(parents=True)
    path.rename(moved)
    world.environ["USER"] = "bob"
    assert world.check("host.docker-socket").status is Status.SKIP  # nothing at the default path any more
    world.environ["DOCKER_HOST"] = "unix:///run/user-docker.sock"
    finding = world.check("host.docker-socket")
    assert finding.status is Status.FAIL
    assert finding.outcome.summary.startswith("bob cannot open /run/user-docker.sock")


def test_no_socket_is_a_skip_and_a_plain_file_is_a_failure(world: World) -> None:
    finding = world.check("host.docker-socket")
    assert finding.status is Status.SKIP
    assert "no Docker socket at /var/run/docker.sock" in finding.outcome.summary
    world.write("/var/run/docker.sock", "")
    finding = world.check("host.docker-socket")
    assert finding.status is Status.FAIL
    assert finding.outcome.summary == "/var/run/docker.sock is not a socket"


def test_an_unknown_user_is_a_skip_with_the_reason(socket_world: tuple[World, Path]) -> None:
    world, _ = socket_world
    world.environ["USER"] = "mallory"
    finding = world.check("host.docker-socket")
    assert finding.status is Status.SKIP
    assert finding.outcome.summary == "user 'mallory' is not in /etc/passwd: cannot tell its groups"


def test_live_session_without_the_group_is_told_to_log_in_again() -> None:
    """The real CLI on the live system as `nobody`, whose /etc/passwd group (nogroup) owns the socket:
    a process started without that gid (as a session opened before `usermod -aG` would be) warns,
    the same user with the gid in effect is ok. The socket is found through DOCKER_HOST."""
    import json
    import pwd

    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="doctor-live-", dir="/tmp"))
    base.chmod(0o755)
    path = base / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(path))
        listener.listen()
        os.chown(path, 0, nobody.pw_gid)
        path.chmod(0o660)
        env = {"PATH": "/usr/bin:/bin", "USER": "nobody", "DOCKER_HOST": f"unix://{path}", "LANG": "C.UTF-8"}
        found = {}
        for label, groups in (
            ("stale", ["--regid=0", "--clear-groups"]),
            ("fresh", [f"--regid={nobody.pw_gid}", "--clear-groups"]),
        ):
            argv = ["setpriv", f"--reuid={nobody.pw_uid}", *groups, sys.executable, "-m", "cityscale", "doctor"]
            argv += ["--json", "--only", "host.docker-socket"]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env, cwd=base)
            assert done.stdout, done.stderr
            found[label] = json.loads(done.stdout)["checks"][0]
    finally:
        listener.close()
        shutil.rmtree(base)
    assert found["stale"]["status"] == "warn", found["stale"]
    assert found["stale"]["summary"] == "nobody is in group nogroup, but this login session is not yet"
    assert found["stale"]["remediation"] == "log out and in again (or: newgrp nogroup)"
    assert found["fresh"]["status"] == "ok", found["fresh"]
    assert found["fresh"]["summary"] == f"nobody can read and write {path} (as its group)"
