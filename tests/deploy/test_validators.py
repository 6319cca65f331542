"""The deployment kit passes the real validators of each format, offline: the compose-spec and
GitHub workflow JSON schemas, hadolint, kubernetes-validate on the kustomize output, yamllint,
zizmor, shellcheck, `nginx -t` and `promtool check config`. Each test fails with the tool's output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cityscale.stack.nginx import NginxParams, check_config, render
from tests.deploy.kit import (
    COMPOSE,
    DOCKERFILE,
    K8S,
    K8S_OVERLAYS,
    REPO,
    SHELL_SCRIPTS,
    WORKFLOWS,
    YAMLLINT_CONFIG,
    run,
    tool,
)
from tests.support.servers import remove, scratch_dir


def test_compose_file_matches_compose_spec() -> None:
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])


def test_workflows_match_github_workflow_schema() -> None:
    assert WORKFLOWS, "no workflow found under .github/workflows"
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)])


def test_workflows_pass_zizmor() -> None:
    run([tool("zizmor"), "--offline", str(REPO / ".github" / "workflows")])


def test_dockerfile_passes_hadolint() -> None:
    run([tool("hadolint"), str(DOCKERFILE)])


# The oldest Kubernetes still commonly run by managed services, and the newest the validator knows.
@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
@pytest.mark.parametrize("overlay", K8S_OVERLAYS, ids=lambda path: path.name)
def test_kustomize_output_passes_kubernetes_validate(overlay: Path, version: str) -> None:
    rendered = run([tool("kubectl"), "kustomize", str(overlay)]).stdout
    # --strict rejects unknown fields too; CRDs (CloudNativePG's Cluster) have no bundled schema and
    # only warn, which is why the CNPG manifest is checked by tests/deploy/test_k8s.py instead.
    result = run([tool("kubernetes-validate"), "--strict", "-k", version, "-"], stdin=rendered)
    assert "passed for resource deployment/cityscale-api" in result.stdout


def test_every_overlay_is_validated() -> None:
    assert {path.name for path in K8S_OVERLAYS} >= {"production", "staging"}
    assert (K8S / "base" / "kustomization.yaml").exists()


def test_kit_yaml_passes_yamllint() -> None:
    targets = [COMPOSE, REPO / ".github", K8S, REPO / "deploy" / "compose"]
    run([tool("yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), *map(str, targets)])


def test_shell_scripts_pass_shellcheck() -> None:
    names = {path.name for path in SHELL_SCRIPTS}
    assert {"replica-entrypoint.sh", "primary-init.sh", "docker-prune.sh"} <= names
    run([tool("shellcheck"), *map(str, SHELL_SCRIPTS)])


def test_systemd_timer_passes_systemd_analyze() -> None:
    run([tool("systemd-analyze"), "verify", str(REPO / "deploy" / "host" / "docker-prune.timer")])


def test_compose_nginx_config_passes_nginx_t() -> None:
    # The Compose variant exactly, but with its pid and temp paths moved into a scratch dir, so that
    # `nginx -t` checks it here without touching /tmp. The resolver + variable pattern means the
    # unresolvable service name `api` does not fail the test, as it would not fail nginx in Compose.
    prefix = scratch_dir("deploy-nginx")
    try:
        (prefix / "logs").mkdir()
        (prefix / "temp").mkdir()
        params = dataclasses.replace(
            NginxParams.compose(), pid_path=str(prefix / "nginx.pid"), temp_dir=str(prefix / "temp")
        )
        conf = prefix / "nginx.conf"
        conf.write_text(render(params))
        # The official image starts nginx with -g 'daemon off;': the file must accept that too.
        check_config(conf, prefix=prefix, global_directives="daemon off;")
    finally:
        remove(prefix)


def test_prometheus_config_passes_promtool() -> None:
    config = REPO / "deploy" / "prometheus" / "prometheus.yml"
    assert config.exists(), "compose.yaml mounts deploy/prometheus: the config must be in the repo"
    run([tool("promtool"), "check", "config", str(config)])
