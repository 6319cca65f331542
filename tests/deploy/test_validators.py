"""The deployment kit passes the real validators of each format, offline: the compose-spec and
GitHub workflow JSON schemas, hadolint, kubernetes-validate on the kustomize output, yamllint,
zizmor, shellcheck, `nginx -t` and `promtool check config`. Each test fails with the tool's output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

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
    load_all_yaml,
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
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
# Custom resources have no schema in kubernetes-validate (it only WARNs "couldn't find schema"), so
# they are left out of its input and checked by tests/deploy/test_k8s.py; any other kind is built in.
CUSTOM_KINDS = {("postgresql.cnpg.io/v1", "Cluster")}
RENDERED = [K8S / "base", *K8S_OVERLAYS]


def validator_verdicts(output: str) -> list[str]:
    """The lines of kubernetes-validate's output that are not a pass: WARN and ERROR both fail."""
    return [line for line in output.splitlines() if line.strip() and not line.startswith("INFO - passed for resource")]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", RENDERED, ids=lambda path: path.name)
def test_kustomize_output_passes_kubernetes_validate_strictly(target: Path, version: str) -> None:
    docs = load_all_yaml(run([tool("kubectl"), "kustomize", str(target)]).stdout)
    custom = [doc for doc in docs if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS]
    builtin = [doc for doc in docs if (doc["apiVersion"], doc["kind"]) not in CUSTOM_KINDS]
    assert len(custom) == 1, "the CloudNativePG Cluster is expected once"
    # --strict rejects unknown fields; a WARN (an unknown kind or version, a missing schema) is a
    # failure too, since it means the resource was not checked at all.
    result = run([tool("kubernetes-validate"), "--strict", "-k", version, "-"], stdin=yaml.safe_dump_all(builtin))
    output = result.stdout + result.stderr
    assert validator_verdicts(output) == [], output
    for doc in builtin:
        resource = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        assert f"passed for resource {resource} " in output, f"{resource} was not validated:\n{output}"


def test_a_warning_from_kubernetes_validate_counts_as_a_failure() -> None:
    warn = "WARN - Couldn't find schema for kind Cluster with api version postgresql.cnpg.io/v1"
    assert validator_verdicts(f"INFO - passed for resource service/x against version 1.37\n{warn}\n") == [warn]


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
