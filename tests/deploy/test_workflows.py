"""The GitHub workflows follow the supply-chain and cost rules: every action pinned by a full
commit SHA with its version in a comment, minimal permissions, a timeout on every job, a
concurrency group, and the release publishing only from main and version tags."""

from __future__ import annotations

import re
from typing import Any

from tests.deploy.kit import REPO, WORKFLOWS, load_yaml

USES = re.compile(r"^\s*-?\s*uses:\s*(\S+)(.*)$", re.MULTILINE)


def workflow(name: str) -> dict[str, Any]:
    data = load_yaml(REPO / ".github" / "workflows" / name)
    assert isinstance(data, dict)
    return data


def test_every_action_is_pinned_by_sha_with_a_version_comment() -> None:
    seen = 0
    for path in WORKFLOWS:
        for ref, rest in USES.findall(path.read_text()):
            seen += 1
            assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}", ref), (
                f"{path.name}: {ref} is not SHA-pinned"
            )
            assert re.fullmatch(r"\s+#\s*v\d+(\.\d+)*", rest), f"{path.name}: {ref} has no `# vX.Y.Z` comment"
    assert seen >= 5


def test_permissions_are_read_only_at_the_top_and_every_job_has_a_timeout() -> None:
    for path in WORKFLOWS:
        data = load_yaml(path)
        assert data["permissions"] == {"contents": "read"}, path.name
        assert "group" in data["concurrency"], path.name
        for name, job in data["jobs"].items():
            assert 0 < job["timeout-minutes"] <= 60, f"{path.name}: job {name}"
            assert job.get("permissions", {}) in ({}, {"contents": "read"}), f"{path.name}: job {name}"


def test_checkout_never_keeps_credentials() -> None:
    for path in WORKFLOWS:
        for job in load_yaml(path)["jobs"].values():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_ci_runs_the_readme_test_command_checks_and_services() -> None:
    ci = workflow("ci.yml")
    steps = {name: " ".join(str(step.get("run", "")) for step in job["steps"]) for name, job in ci["jobs"].items()}
    assert "scripts/check" in steps["check"]
    assert ".ci/run" in steps["test"]
    services = ci["jobs"]["services"]["services"]
    assert services["postgres"]["image"].startswith("postgres:18")
    assert services["redis"]["image"].startswith("redis:")
    assert "cityscale migrate --wait" in steps["services"]
    assert "pg_isready -h 127.0.0.1" in ci["jobs"]["services"]["services"]["postgres"]["options"]
    assert "docker compose up" in steps["compose"]


def test_release_pushes_multi_arch_to_docker_hub_only_from_main_and_tags() -> None:
    release = workflow("release.yml")
    # PyYAML reads the `on:` key as the boolean True (YAML 1.1).
    triggers = release.get("on", release.get(True))
    assert set(triggers) == {"push"}, "no pull_request trigger: forks must never reach the push secrets"
    assert triggers["push"]["branches"] == ["main"]
    assert triggers["push"]["tags"] == ["v*.*.*"]
    steps = release["jobs"]["image"]["steps"]
    by_action = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    login = by_action["docker/login-action"]["with"]
    assert login == {"username": "${{ secrets.DOCKERHUB_USERNAME }}", "password": "${{ secrets.DOCKERHUB_TOKEN }}"}
    tags = by_action["docker/metadata-action"]["with"]["tags"]
    assert "type=semver,pattern={{version}}" in tags
    assert "type=sha" in tags
    build = by_action["docker/build-push-action"]["with"]
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert build["push"] is True
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"
    assert {"docker/setup-qemu-action", "docker/setup-buildx-action"} <= set(by_action)


def packages_scripts_test_ensures() -> set[str]:
    text = (REPO / "scripts" / "test").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.strip().startswith("ensure_packages ")]
    pairs = line.split()[1:]
    assert all(":" in pair for pair in pairs), line
    return {pair.split(":", 1)[1] for pair in pairs}


def packages_ci_installs() -> set[str]:
    steps = workflow("ci.yml")["jobs"]["test"]["steps"]
    commands = " ".join(str(step.get("run", "")) for step in steps)
    found: set[str] = set()
    for match in re.finditer(r"apt-get install((?:\s+[\w.+-]+)+)", commands):
        found |= {word for word in match.group(1).split() if not word.startswith("-")}
    return found


def test_ci_installs_every_package_the_test_script_needs() -> None:
    # scripts/test (through .ci/run) installs a missing package only as root; GitHub's runner user is
    # not root, so CI must install each one itself, or the suite stops before its first test.
    needed = packages_scripts_test_ensures()
    assert {"postgresql", "redis-server", "nginx", "prometheus", "prometheus-postgres-exporter"} <= needed
    assert needed <= packages_ci_installs(), f"ci.yml does not install {sorted(needed - packages_ci_installs())}"
