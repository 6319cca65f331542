"""docs/deploy.md matches the kit it describes: every file it names exists, every Compose service,
variable, host port and Kubernetes object its commands use is the one the files define, and every
test it cites exists. A newcomer following it never meets a name that is not there."""

from __future__ import annotations

import re
from typing import Any

from cityscale.settings import Settings
from tests.deploy.kit import ENV_EXAMPLE, HOST, K8S, REPO, compose, kustomize, load_yaml

DOC = (REPO / "docs" / "deploy.md").read_text()
TICKED = re.findall(r"`([^`\n]+)`", DOC)
REPO_ROOTS = (".ci/", ".github/", "deploy/", "docs/", "scripts/", "src/", "tests/")


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z_]+=", line))
    return dict(pairs)


def test_every_repository_path_named_exists() -> None:
    named = {t for t in TICKED if t.startswith(REPO_ROOTS) and " " not in t}
    assert len(named) > 10
    missing = sorted(path for path in named if not (REPO / path.rstrip("/")).exists())
    assert missing == []


def test_every_variable_named_is_defined_somewhere() -> None:
    # `NAME` and `NAME=value`.
    named = {m.group(1) for t in TICKED if (m := re.match(r"([A-Z][A-Z0-9]*_[A-Z0-9_]+)(=|$)", t))}
    assert "CITYSCALE_TAG" in named
    known = set(env_example()) | set(Settings.model_fields)
    known |= set(re.findall(r"\b(DOCKER_PRUNE_[A-Z_]+)", (HOST / "docker-prune.sh").read_text()))
    known |= set(re.findall(r"secrets\.([A-Z_]+)", (REPO / ".github" / "workflows" / "release.yml").read_text()))
    known |= set(re.findall(r"^ARG ([A-Z_]+)", (REPO / "Dockerfile").read_text(), re.MULTILINE))
    assert sorted(named - known) == []


def test_compose_services_and_host_ports_are_the_files() -> None:
    services = compose()["services"]
    table = re.findall(r"^\| `([\w-]+)` \| [^|]+ \|", DOC, re.MULTILINE)
    assert {"postgres-primary", "postgres-replica", "redis", "migrate", "api", "nginx"} <= set(table)
    assert set(table) <= set(services)
    for command in re.findall(r"docker compose (?:run --rm|logs -f|ps) ([a-z][\w-]*)", DOC):
        assert command in services, command
    env = env_example()
    for variable in (
        "CITYSCALE_HTTP_PORT",
        "CITYSCALE_POSTGRES_PORT",
        "CITYSCALE_PROMETHEUS_PORT",
        "CITYSCALE_GRAFANA_PORT",
    ):
        assert f"`{env[variable]}`" in DOC or f"127.0.0.1:{env[variable]}" in DOC, variable
    assert f"http://127.0.0.1:{env['CITYSCALE_HTTP_PORT']}/api/cities" in DOC


def objects(docs: list[dict[str, Any]]) -> set[str]:
    return {f"{doc['kind'].lower()}/{doc['metadata']['name']}" for doc in docs}


def test_kubernetes_walk_uses_the_rendered_names() -> None:
    production = K8S / "overlays" / "production"
    namespace = load_yaml(production / "kustomization.yaml")["namespace"]
    rendered = kustomize(production)
    walk = DOC[DOC.index("## 5. Kubernetes") : DOC.index("## 6.")]
    assert set(re.findall(r"kubectl -n (\S+)", walk)) == {namespace}
    assert f"kubectl create namespace {namespace}" in walk
    assert "kubectl apply -k deploy/k8s/overlays/production" in walk
    used = set(re.findall(r"\b((?:cluster|job|deployment|ingress)/[\w-]+)", walk))
    used |= {f"deployment/{name}" for name in re.findall(r"exec deploy/([\w-]+)", walk)}
    used |= {f"ingress/{name}" for name in re.findall(r"get ingress ([\w-]+)", walk)}
    assert used
    assert used <= objects(rendered), sorted(used - objects(rendered))
    # The Secret the walk creates is the one the Deployment reads API_TOKEN from.
    (secret,) = re.findall(r"create secret generic ([\w-]+) --from-literal=API_TOKEN=", walk)
    (api,) = [d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "cityscale-api"]
    env = {item["name"]: item for item in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": "API_TOKEN"}


def test_every_cited_test_exists() -> None:
    sources = "\n".join(path.read_text() for path in (REPO / "tests" / "deploy").glob("test_*.py"))
    files = {path.name for path in (REPO / "tests" / "deploy").glob("test_*.py")}
    for cited in re.findall(r"`(test_[\w.]*)`", DOC):
        if cited.endswith(".py"):
            assert cited in files, cited
        else:
            assert re.search(rf"def {re.escape(cited.rstrip('.'))}", sources), cited


def test_the_secret_one_liner_replaces_every_placeholder() -> None:
    # A newcomer copying the Compose walk must end with no placeholder left (the API rejects them).
    (names,) = re.findall(r"for name in ([A-Z_ ]+); do\n\s+sed -i", DOC)
    placeholders = {name for name, value in env_example().items() if value.startswith("replace-with-")}
    assert set(names.split()) == placeholders
