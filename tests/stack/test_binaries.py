"""Missing server binaries: installed with apt where `up` may (root, apt present), otherwise the exact
command is printed and `up` exits non-zero before starting anything.

Nothing is uninstalled: a binary is made missing by a search path without it (PATH, the sbin fallback,
Debian's PostgreSQL directory), root and apt by substitution, and apt-get itself by a script that
records its arguments and "installs" the package into the search path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cityscale.cli import main
from cityscale.stack import binaries
from cityscale.stack.binaries import MissingBinaryError, postgres_bin_dir, require_binary
from cityscale.stack.state import is_locked

FAKE_APT = """#!/bin/sh
echo "$@" >> "{record}"
[ -n "{fail}" ] && [ "$1" = install ] && exit 100
[ "$1" = install ] && printf '#!/bin/sh\\n' > "{bin_dir}/{binary}" && /bin/chmod +x "{bin_dir}/{binary}"
exit 0
"""


@pytest.fixture
def empty_search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with nothing in it, no sbin fallback, no Debian PostgreSQL: every binary is missing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(binaries, "SBIN_DIRS", "")
    monkeypatch.setattr(binaries, "POSTGRES_ROOT", tmp_path / "no-postgresql")
    return bin_dir


def as_root(monkeypatch: pytest.MonkeyPatch, root: bool) -> None:
    monkeypatch.setattr(binaries, "_is_root", lambda: root)


def fake_apt(bin_dir: Path, binary: str, *, fail: bool = False) -> Path:
    record = bin_dir.parent / "apt-calls"
    script = bin_dir / "apt-get"
    script.write_text(FAKE_APT.format(record=record, bin_dir=bin_dir, binary=binary, fail="yes" if fail else ""))
    script.chmod(0o755)
    return record


def test_non_root_gets_the_exact_sudo_command_and_apt_is_not_run(
    empty_search_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_root(monkeypatch, False)
    record = fake_apt(empty_search_path, "nginx")
    with pytest.raises(MissingBinaryError) as caught:
        require_binary("nginx", "nginx")
    assert str(caught.value) == "nginx not found; install it with: sudo apt-get update && sudo apt-get install -y nginx"
    assert not record.exists()  # apt was there, but a non-root user may not use it


@pytest.mark.usefixtures("empty_search_path")
def test_root_without_apt_gets_the_command_without_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    as_root(monkeypatch, True)
    with pytest.raises(
        MissingBinaryError,
        match=r"^redis-server not found; install it with: apt-get update && apt-get install -y redis-server$",
    ):
        require_binary("redis-server", "redis-server")


def test_root_with_apt_installs_the_package_and_finds_the_binary(
    empty_search_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_root(monkeypatch, True)
    record = fake_apt(empty_search_path, "nginx")
    found = require_binary("nginx", "nginx")
    assert found == empty_search_path / "nginx"
    assert record.read_text().splitlines() == ["update -qq", "install -y -qq nginx"]
    assert "installing nginx with apt-get" in capsys.readouterr().err


def test_a_failed_apt_install_is_one_line_with_the_command_to_run(
    empty_search_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_root(monkeypatch, True)
    fake_apt(empty_search_path, "nginx", fail=True)
    with pytest.raises(MissingBinaryError) as caught:
        require_binary("nginx", "nginx")
    assert str(caught.value) == (
        "`apt-get install -y -qq nginx` failed (status 100); install by hand: "
        "apt-get update && apt-get install -y nginx"
    )


@pytest.mark.usefixtures("empty_search_path")
def test_missing_postgresql_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    as_root(monkeypatch, False)
    with pytest.raises(
        MissingBinaryError, match=r"install them with: sudo apt-get update && sudo apt-get install -y postgresql$"
    ):
        postgres_bin_dir()


@pytest.mark.parametrize(
    ("missing", "package"), [("nginx", "nginx"), ("redis-server", "redis-server"), ("initdb", "postgresql")]
)
def test_up_without_a_binary_prints_the_command_and_exits_non_zero_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: str, package: str
) -> None:
    # Only the one binary is missing: the others are where this machine has them.
    path = tmp_path / "path"
    path.mkdir()
    for name in ("nginx", "redis-server"):
        if name != missing:
            found = require_binary(name, name, install=False)
            (path / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setattr(binaries, "SBIN_DIRS", "")
    if missing == "initdb":
        monkeypatch.setattr(binaries, "POSTGRES_ROOT", tmp_path / "no-postgresql")
    as_root(monkeypatch, False)
    data_dir = tmp_path / "stack"
    monkeypatch.setattr(sys, "argv", ["cityscale", "up", "--data-dir", str(data_dir)])

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    assert err.startswith("cityscale: ")
    assert err.rstrip().endswith(f"sudo apt-get update && sudo apt-get install -y {package}")
    assert not (data_dir / "primary").exists()  # nothing was created or started
    assert not (data_dir / "state.json").exists()
    assert not is_locked(data_dir)
