"""The Kubernetes manifests, as `kubectl kustomize` renders each overlay, are consistent with the
service: settings the API knows, DB_HOST and DB_REPLICA_URLS from CloudNativePG's -rw and -ro
services, readiness on /readyz and liveness on /healthz (never the database), a grace period longer
than the preStop pause, an HPA on CPU, a PDB, a migration Job and no Secret literal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cityscale.settings import Settings
from tests.deploy.kit import K8S, K8S_OVERLAYS, REPO, kustomize
from tests.observability.promql_names import metric_names


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [doc for doc in by_kind(docs, kind) if doc["metadata"]["name"] == name]
    return found


def api_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = one(docs, "Deployment", "cityscale-api")["spec"]["template"]["spec"]["containers"]
    return container


@pytest.fixture(scope="module", params=K8S_OVERLAYS, ids=lambda path: path.name)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    overlay = request.param
    assert isinstance(overlay, Path)
    return kustomize(overlay)


def config_values(docs: list[dict[str, Any]]) -> dict[str, str]:
    (config,) = by_kind(docs, "ConfigMap")
    data = config["data"]
    assert isinstance(data, dict)
    return data


def test_every_variable_given_to_the_service_is_a_setting(docs: list[dict[str, Any]]) -> None:
    known = set(Settings.model_fields)
    assert set(config_values(docs)) <= known
    for workload in by_kind(docs, "Deployment") + by_kind(docs, "Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            if "cityscale" not in container["image"]:
                continue
            names = {env["name"] for env in container.get("env", [])}
            assert names <= known, f"{workload['metadata']['name']}: {sorted(names - known)} are not settings"


def test_database_comes_from_the_cloudnativepg_cluster(docs: list[dict[str, Any]]) -> None:
    (cluster,) = by_kind(docs, "Cluster")
    name = cluster["metadata"]["name"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert config_values(docs)["DB_HOST"] == f"{name}-rw"
    assert config_values(docs)["DB_NAME"] == cluster["spec"]["bootstrap"]["initdb"]["database"]
    env = {item["name"]: item for item in api_container(docs)["env"]}
    assert f"@{name}-ro:5432/" in env["DB_REPLICA_URLS"]["value"]
    for key in ("DB_USER", "DB_PASSWORD"):
        assert env[key]["valueFrom"]["secretKeyRef"]["name"] == f"{name}-app"
    # $(VAR) references only work for variables defined earlier in the list.
    order = [item["name"] for item in api_container(docs)["env"]]
    assert order.index("DB_PASSWORD") < order.index("DB_REPLICA_URLS")


def test_production_runs_three_database_instances() -> None:
    production = next(path for path in K8S_OVERLAYS if path.name == "production")
    (cluster,) = by_kind(kustomize(production), "Cluster")
    assert cluster["spec"]["instances"] == 3


def test_probes_and_graceful_stop(docs: list[dict[str, Any]]) -> None:
    container = api_container(docs)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # Liveness must not depend on the database: /healthz checks no dependency.
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    pause = int(pre_stop[1])
    grace = one(docs, "Deployment", "cityscale-api")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # The pause, then draining requests up to nginx's 30 s read timeout, must fit in the grace period.
    assert grace > pause + 30
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "3000"]  # noqa: S104 (a container listens on all its interfaces)
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_autoscaling_and_disruption_budget(docs: list[dict[str, Any]]) -> None:
    hpa = one(docs, "HorizontalPodAutoscaler", "cityscale-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "cityscale-api"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    # The HPA owns the replica count: a fixed one in the Deployment would fight it on every apply.
    assert "replicas" not in one(docs, "Deployment", "cityscale-api")["spec"]
    pdb = one(docs, "PodDisruptionBudget", "cityscale-api")
    api_labels = one(docs, "Deployment", "cityscale-api")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= api_labels.items()


def test_migration_job_runs_migrate(docs: list[dict[str, Any]]) -> None:
    job = one(docs, "Job", "cityscale-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    # --wait: the Job may start before CloudNativePG's primary answers (tests/deploy/test_migrate_wait.py);
    # the wait must end well inside the Job's own deadline.
    assert container["args"][:2] == ["migrate", "--wait"]
    assert 0 < float(container["args"][2]) < job["spec"]["activeDeadlineSeconds"]
    assert container["image"] == api_container(docs)["image"], "the Job must migrate to the API's version"


def test_service_and_ingress_reach_the_api(docs: list[dict[str, Any]]) -> None:
    service = one(docs, "Service", "cityscale-api")
    assert service["spec"]["selector"].items() <= (
        one(docs, "Deployment", "cityscale-api")["spec"]["template"]["metadata"]["labels"].items()
    )
    ingress = one(docs, "Ingress", "cityscale-api")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}


def ingress_matches(paths: list[dict[str, Any]], request_path: str) -> bool:
    """Kubernetes' Ingress path matching: Exact is the whole path; Prefix matches by path element
    (`/api` matches `/api` and `/api/cities`, not `/apix`); ImplementationSpecific is treated as a
    plain string prefix, the widest reading."""
    for item in paths:
        path, kind = item["path"], item["pathType"]
        if kind == "Exact" and request_path == path:
            return True
        if kind == "Prefix" and (path in ("/", request_path) or request_path.startswith(path.rstrip("/") + "/")):
            return True
        if kind == "ImplementationSpecific" and request_path.startswith(path):
            return True
    return False


PUBLIC = ["/api/cities", "/api/cities/42", "/docs", "/openapi.json", "/healthz", "/readyz"]
PRIVATE = ["/metrics", "/metrics/", "/", "/nginx_status", "/apix", "/docs/../metrics"]


def test_ingress_publishes_only_the_public_paths(docs: list[dict[str, Any]]) -> None:
    ingress = one(docs, "Ingress", "cityscale-api")
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    assert {(path["path"], path["pathType"]) for path in paths} == {
        ("/api", "Prefix"),
        ("/docs", "Exact"),
        ("/openapi.json", "Exact"),
        ("/healthz", "Exact"),
        ("/readyz", "Exact"),
    }
    assert "defaultBackend" not in ingress["spec"], "a default backend would publish every other path"
    for request_path in PUBLIC:
        assert ingress_matches(paths, request_path), request_path
    for request_path in PRIVATE:
        assert not ingress_matches(paths, request_path), f"{request_path} reaches the API from outside"


def test_ingress_matcher_would_catch_a_catch_all_route() -> None:
    catch_all = [{"path": "/", "pathType": "Prefix"}]
    assert ingress_matches(catch_all, "/metrics")
    assert not ingress_matches([{"path": "/api", "pathType": "Prefix"}], "/apix")


def test_redis_is_a_bounded_cache(docs: list[dict[str, Any]]) -> None:
    (container,) = one(docs, "Deployment", "cityscale-redis")["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert config_values(docs)["REDIS_URL"].startswith("redis://cityscale-redis:")


def test_no_secret_is_committed(docs: list[dict[str, Any]]) -> None:
    # Secrets come from the CNPG operator and from `kubectl create secret` (docs/deploy.md).
    assert by_kind(docs, "Secret") == []


def commented_keda_alternative() -> dict[str, Any]:
    text = (K8S / "base" / "hpa.yaml").read_text()
    block = text[text.index("# apiVersion: keda.sh/") :].split("\n#\n")[0]
    data = yaml.safe_load("\n".join(line.removeprefix("# ") for line in block.splitlines()))
    assert isinstance(data, dict)
    return data


def test_commented_request_rate_alternative_reads_a_metric_the_service_exports() -> None:
    keda = commented_keda_alternative()
    assert keda["kind"] == "ScaledObject"
    assert keda["spec"]["scaleTargetRef"]["name"] == "cityscale-api"
    (trigger,) = keda["spec"]["triggers"]
    names = metric_names(trigger["metadata"]["query"])
    assert names
    sources = "\n".join(path.read_text() for path in (REPO / "src" / "cityscale").rglob("*.py"))
    for name in names:
        family = re.sub(r"_(count|sum|bucket|total)$", "", name)
        assert f'"{family}"' in sources, f"{name}: no metric family {family} in the service"
