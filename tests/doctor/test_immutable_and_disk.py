"""docker layer: a real immutable daemon.json (chattr +i), and a build cache bigger than the free disk."""

from __future__ import annotations

import pytest

from cityscale.doctor.fixer import FixError, apply_edit
from cityscale.doctor.report import Status
from tests.doctor.worlds import World, free_bytes, immutable, sparse_file


def test_clean_config_files_are_writable(world: World) -> None:
    finding = world.check("docker.config-immutable")
    assert finding.status is Status.OK


def test_immutable_daemon_json_fails_with_the_chattr_command(world: World) -> None:
    path = world.root / "etc/docker/daemon.json"
    with immutable(path) as unsupported:
        if unsupported:
            pytest.skip(f"this filesystem cannot set the immutable attribute: {unsupported}")
        finding = world.check("docker.config-immutable")
        assert finding.status is Status.FAIL
        assert finding.outcome.evidence[0] == "/etc/docker/daemon.json: immutable (read with statx)"
        assert "sudo chattr -i -a /etc/docker/daemon.json" in finding.outcome.remediation


def test_fix_refuses_an_immutable_file_and_says_why(world: World) -> None:
    path = world.write("/etc/docker/daemon.json", '{"userns-remap-to": "default"}')
    (edit,) = world.check("docker.daemon-json-keys").outcome.edits
    with immutable(path) as unsupported:
        if unsupported:
            pytest.skip(f"this filesystem cannot set the immutable attribute: {unsupported}")
        with pytest.raises(FixError, match=r"chattr -i"):
            apply_edit(edit)
    assert path.read_text() == '{"userns-remap-to": "default"}'
    assert list(path.parent.glob("*.bak")) == []


def test_build_cache_larger_than_free_space_fails(world: World) -> None:
    cache = world.root / "var/lib/docker/buildkit/content/blobs/sha256/huge"
    sparse_file(cache, free_bytes(world.root) + 2 * 1024**3)
    finding = world.check("docker.disk-usage")
    assert finding.status is Status.FAIL
    assert "build cache" in finding.outcome.evidence[0]
    assert finding.outcome.remediation.startswith("docker builder prune")


def test_small_build_cache_is_ok_and_no_docker_dir_is_a_skip(world: World) -> None:
    assert world.check("docker.disk-usage").status is Status.OK
    import shutil

    shutil.rmtree(world.root / "var/lib/docker")
    assert world.check("docker.disk-usage").status is Status.SKIP
