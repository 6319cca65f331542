"""scripts/lib/bootstrap.sh on a fresh Debian machine: python3 without pip or venv, no uv.

apt-get, id and python3 are stand-ins on PATH (installing Debian packages for real would change this
shared machine): they record what the script asked for, and "install" by leaving a marker the fake
python3 then sees. The script itself runs unmodified in a real bash.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/bin/bash
echo "python3 $*" >> "$FAKE_LOG"
case "$*" in
  "-m pip --version") [ -e "$FAKE_STATE/python3-pip" ] ;;
  "-c import ensurepip, venv") [ -e "$FAKE_STATE/python3-venv" ] ;;
  "-m pip install"*)
    [ -e "$FAKE_STATE/python3-pip" ] || exit 1
    /bin/mkdir -p "$HOME/.local/bin"
    printf '#!/bin/sh\\n' > "$HOME/.local/bin/uv"
    /bin/chmod +x "$HOME/.local/bin/uv" ;;
esac
"""
FAKE_APT_GET = """#!/bin/bash
echo "apt-get $*" >> "$FAKE_LOG"
for arg in "$@"; do case "$arg" in python3-*) : > "$FAKE_STATE/$arg" ;; esac; done
"""
FAKE_ID = """#!/bin/bash
echo "$FAKE_UID"
"""


def run_bootstrap(tmp_path: Path, *, uid: int, installed: tuple[str, ...] = ()) -> tuple[int, str, list[str]]:
    stubs, home, state = tmp_path / "bin", tmp_path / "home", tmp_path / "state"
    for directory in (stubs, home, state):
        directory.mkdir()
    for name, text in {"python3": FAKE_PYTHON, "apt-get": FAKE_APT_GET, "id": FAKE_ID}.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    for package in installed:
        (state / package).touch()
    log = tmp_path / "calls.log"
    log.touch()
    result = subprocess.run(
        ["/bin/bash", "-c", 'source scripts/lib/bootstrap.sh && ensure_uv && echo "uv at $(command -v uv)"'],
        cwd=REPO,
        env={
            "PATH": str(stubs),
            "HOME": str(home),
            "FAKE_LOG": str(log),
            "FAKE_STATE": str(state),
            "FAKE_UID": str(uid),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, log.read_text().splitlines()


def test_as_root_installs_pip_and_venv_with_apt_then_uv_with_pip(tmp_path: Path) -> None:
    status, output, calls = run_bootstrap(tmp_path, uid=0)
    assert status == 0, output
    assert "apt-get install -y -qq python3-pip python3-venv" in calls
    assert calls.index("apt-get install -y -qq python3-pip python3-venv") < next(
        i for i, call in enumerate(calls) if call.startswith("python3 -m pip install")
    )
    assert f"uv at {tmp_path}/home/.local/bin/uv" in output


def test_as_a_user_prints_the_exact_command_and_fails(tmp_path: Path) -> None:
    status, output, calls = run_bootstrap(tmp_path, uid=1000)
    assert status == 1
    assert "sudo apt-get install -y python3-pip python3-venv" in output
    assert not any(call.startswith(("apt-get", "python3 -m pip install")) for call in calls)


@pytest.mark.parametrize(
    ("installed", "missing"), [(("python3-venv",), "python3-pip"), (("python3-pip",), "python3-venv")]
)
def test_installs_only_what_is_missing(tmp_path: Path, installed: tuple[str, ...], missing: str) -> None:
    status, output, calls = run_bootstrap(tmp_path, uid=0, installed=installed)
    assert status == 0, output
    assert [call for call in calls if call.startswith("apt-get install")] == [f"apt-get install -y -qq {missing}"]


def test_with_pip_and_venv_present_apt_is_not_touched(tmp_path: Path) -> None:
    status, output, calls = run_bootstrap(tmp_path, uid=0, installed=("python3-pip", "python3-venv"))
    assert status == 0, output
    assert not any(call.startswith("apt-get") for call in calls)
