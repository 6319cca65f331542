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


def test_scheduled_prunes(world: World) -> None:
    assert world.check("docker.prune-schedule").status is Status.OK
    world.write("/etc/cron.d/docker-prune", "# hourly clean-up\n0 * * * * root docker system prune -af\n")
    finding = world.check("docker.prune-schedule")
    assert finding.status is Status.WARN
    assert finding.outcome.evidence == ("/etc/cron.d/docker-prune:2: docker system prune -af",)
    assert "--filter until=" in finding.outcome.remediation
    world.write(
        "/etc/systemd/system/docker-prune.service", "[Service]\nExecStart=/usr/bin/docker system prune -f --volumes\n"
    )
    finding = world.check("docker.prune-schedule")
    assert finding.status is Status.FAIL
    assert "/etc/systemd/system/docker-prune.service:2: docker system prune -f --volumes" in finding.outcome.evidence
    world.write("/etc/cron.d/docker-prune", "0 * * * * root docker image prune -a --filter until=168h\n")
    (world.root / "etc/systemd/system/docker-prune.service").unlink()
    assert world.check("docker.prune-schedule").status is Status.OK


def test_immutable_directory_is_found(world: World) -> None:
    with immutable(world.root / "etc/docker") as unsupported:
        if unsupported:
            pytest.skip(f"this filesystem cannot set the immutable attribute: {unsupported}")
        finding = world.check("docker.config-immutable")
    assert finding.status is Status.FAIL
    assert finding.outcome.evidence == ("/etc/docker: immutable (read with statx)",)


def test_fix_refuses_a_file_changed_since_the_check(world: World) -> None:
    path = world.write("/etc/docker/daemon.json", '{"userns-remap-to": "default"}')
    (edit,) = world.check("docker.daemon-json-keys").outcome.edits
    path.write_text('{"userns-remap-to": "default", "debug": true}')
    with pytest.raises(FixError, match="changed since it was checked"):
        apply_edit(edit)
    assert path.read_text() == '{"userns-remap-to": "default", "debug": true}'


def test_data_root_from_daemon_json_is_where_the_cache_is_measured(world: World) -> None:
    world.write("/etc/docker/daemon.json", '{"data-root": "/srv/docker"}')
    assert world.check("docker.disk-usage").status is Status.SKIP  # nothing at /srv/docker yet
    sparse_file(world.root / "srv/docker/buildkit/cache.db", free_bytes(world.root) + 2 * 1024**3)
    finding = world.check("docker.disk-usage")
    assert finding.status is Status.FAIL
    assert finding.outcome.evidence[0].startswith("build cache under /srv/docker/buildkit:")


def test_append_only_drop_in_is_found(world: World) -> None:
    """`chattr +a`: the file can grow but not be rewritten, so an editor's save fails just the same."""
    import subprocess

    path = world.write("/etc/systemd/system/docker.service.d/override.conf", "[Service]\n")
    done = subprocess.run(["chattr", "+a", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"this filesystem cannot set the append-only attribute: {done.stderr.strip()}")
    try:
        finding = world.check("docker.config-immutable")
    finally:
        subprocess.run(["chattr", "-a", str(path)], check=True)
    assert finding.status is Status.FAIL
    assert finding.outcome.evidence == (
        "/etc/systemd/system/docker.service.d/override.conf: append-only (read with statx)",
    )
    assert "sudo chattr -i -a /etc/systemd/system/docker.service.d/override.conf" in finding.outcome.remediation


def test_without_statx_the_ioctl_reads_the_same_attribute(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where libc has no statx (or the kernel answers ENOSYS), FS_IOC_GETFLAGS, as lsattr uses, decides."""
    from cityscale.doctor import fileattrs

    def no_statx(_path: object) -> fileattrs.Attributes:
        raise fileattrs._StatxUnavailable  # the fallback's trigger, as a libc without statx causes it

    monkeypatch.setattr(fileattrs, "_via_statx", no_statx)
    path = world.root / "etc/docker/daemon.json"
    assert fileattrs.read_attributes(path) == fileattrs.Attributes(frozenset(), "ioctl")
    with immutable(path) as unsupported:
        if unsupported:
            pytest.skip(f"this filesystem cannot set the immutable attribute: {unsupported}")
        finding = world.check("docker.config-immutable")
    assert finding.status is Status.FAIL
    assert finding.outcome.evidence == ("/etc/docker/daemon.json: immutable (read with ioctl)",)
