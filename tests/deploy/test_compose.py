"""compose.yaml is consistent with the service it deploys and avoids the original incident's traps:
the API is told only settings it knows, `DB_HOST` is the database's service name, the schema is
migrated before any API container starts, host ports are quoted strings that can be moved from
`.env`, every service says how it is healthy, and nginx's file is the shared template rendered."""

from __future__ import annotations

import re
from typing import Any

import yaml

from cityscale.settings import Settings
from cityscale.stack.nginx import NginxParams, render
from tests.deploy.kit import COMPOSE, ENV_EXAMPLE, REPO, compose

CITYSCALE_SERVICES = ("api", "migrate")
ONE_SHOT = {"migrate"}
# Images built FROM scratch have no program to probe with; Prometheus' `up` is their health signal.
NO_PROBE_POSSIBLE = {"nginx-exporter"}


def services() -> dict[str, Any]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


def test_cityscale_containers_get_only_settings_the_service_reads() -> None:
    known = set(Settings.model_fields)
    for name in CITYSCALE_SERVICES:
        env = services()[name]["environment"]
        unknown = set(env) - known
        assert not unknown, f"services.{name}.environment sets {sorted(unknown)}, which Settings ignores"


def test_db_host_is_the_primary_service_and_replica_urls_name_real_services() -> None:
    all_services = services()
    for name in CITYSCALE_SERVICES:
        env = all_services[name]["environment"]
        assert env["DB_HOST"] in all_services, f"DB_HOST={env['DB_HOST']} is no service of compose.yaml"
        assert env["DB_HOST"] != "localhost"
        assert "postgres" in all_services[env["DB_HOST"]]["image"]
        for host in re.findall(r"@([\w.-]+):", env["DB_REPLICA_URLS"]):
            assert host in all_services
        redis_host = re.match(r"redis://([\w.-]+):", env["REDIS_URL"])
        assert redis_host is not None
        assert redis_host.group(1) in all_services


def test_api_starts_only_after_a_successful_migration_and_healthy_dependencies() -> None:
    depends = services()["api"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["postgres-primary"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    # --wait: a bounded wait for the database to accept connections (tests/deploy/test_migrate_wait.py).
    command = services()["migrate"]["command"]
    assert command[:2] == ["migrate", "--wait"]
    assert 0 < float(command[2]) <= 300
    assert services()["migrate"]["depends_on"]["postgres-primary"]["condition"] == "service_healthy"


def test_postgres_healthchecks_probe_over_tcp() -> None:
    # The image's entrypoint runs init scripts on a server listening on the socket only: a check over
    # the socket says healthy before any TCP client (the API, migrate, the replica) can connect.
    for name in ("postgres-primary", "postgres-replica"):
        test = services()[name]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL", name
        assert re.search(r"\b(pg_isready|psql) -h 127\.0\.0\.1\b", test[1]), f"{name}: {test[1]}"


def test_every_dependency_names_a_service_and_waits_on_a_condition() -> None:
    all_services = services()
    for name, spec in all_services.items():
        for target, rule in spec.get("depends_on", {}).items():
            assert target in all_services, f"{name} depends on unknown service {target}"
            assert rule["condition"] in {"service_healthy", "service_completed_successfully"}, (name, target)


def test_api_is_scalable() -> None:
    api = services()["api"]
    # A fixed host port or container name would make a second replica collide.
    assert "ports" not in api
    assert "container_name" not in api
    assert str(api["deploy"]["replicas"]).startswith("${API_REPLICAS")


def test_every_service_has_a_healthcheck() -> None:
    for name, spec in services().items():
        check = spec.get("healthcheck")
        assert check is not None, f"services.{name} has no healthcheck"
        if check.get("disable"):
            assert name in ONE_SHOT | NO_PROBE_POSSIBLE, f"services.{name} disables its healthcheck"
        else:
            assert check["test"][0] in {"CMD", "CMD-SHELL"}, name


def port_nodes() -> list[tuple[str, yaml.Node]]:
    root = yaml.compose(COMPOSE.read_text(), Loader=yaml.SafeLoader)
    assert isinstance(root, yaml.MappingNode)
    found = []
    for key, value in root.value:
        if key.value != "services":
            continue
        for service, spec in value.value:
            for field, ports in spec.value:
                if field.value == "ports":
                    found += [(service.value, item) for item in ports.value]
    return found


def test_every_port_mapping_is_a_quoted_string() -> None:
    # Unquoted, YAML 1.1 reads 22:22 as the base-60 number 1342: a port silently wrong.
    nodes = port_nodes()
    assert nodes, "compose.yaml publishes no port"
    for service, node in nodes:
        assert isinstance(node, yaml.ScalarNode), f"{service}: use the short quoted form"
        assert node.style in {'"', "'"}, f"services.{service}.ports: {node.value} is not a quoted string"


def test_host_ports_avoid_common_ports_and_are_overridable_from_env() -> None:
    common = {"80", "443", "3000", "5432", "6379", "8080", "9090"}
    documented = ENV_EXAMPLE.read_text()
    for service, node in port_nodes():
        match = re.fullmatch(r"(?:127\.0\.0\.1:)?\$\{(\w+):-(\d+)\}:\d+", node.value)
        assert match, f"services.{service}: host port {node.value} is not ${{VAR:-default}}"
        variable, default = match.groups()
        assert default not in common, f"services.{service}: default host port {default} is commonly taken"
        assert f"\n{variable}={default}\n" in documented, f"{variable} is not documented in .env.example"


def test_only_the_public_entry_listens_beyond_loopback() -> None:
    for service, node in port_nodes():
        assert node.value.startswith("127.0.0.1:") or service == "nginx", service


def test_services_behind_a_profile_do_not_require_variables() -> None:
    # Compose interpolates every service before filtering profiles: a `${VAR:?}` in a profiled
    # service would stop a plain `docker compose up` for everyone who never enables that profile.
    text = COMPOSE.read_text()
    for name, spec in services().items():
        if spec.get("profiles"):
            block = yaml.safe_dump(spec)
            assert ":?" not in block, f"services.{name} is behind a profile but requires a variable"
    assert "${POSTGRES_PASSWORD:?" in text  # the core stack does require its secrets


def test_volumes_are_named_and_declared() -> None:
    declared = set(compose()["volumes"])
    for name, spec in services().items():
        for mount in spec.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"services.{name} mounts missing {source}"
            else:
                assert source in declared, f"services.{name} uses undeclared volume {source}"


def test_postgres_major_is_pinned_and_its_volume_is_the_pg18_parent() -> None:
    for name in ("postgres-primary", "postgres-replica"):
        spec = services()[name]
        assert re.fullmatch(r"postgres:18(-\w+)?", spec["image"]), spec["image"]
        # From 18 the image's data lives in /var/lib/postgresql/18/docker: mounting .../data would be lost.
        assert any(mount.endswith(":/var/lib/postgresql") for mount in spec["volumes"]), name


def test_replica_is_cloned_with_pg_basebackup_r() -> None:
    replica = services()["postgres-replica"]
    script = REPO / "deploy" / "compose" / "postgres" / "replica-entrypoint.sh"
    assert replica["entrypoint"] == ["/usr/local/bin/replica-entrypoint.sh"]
    assert f"./{script.relative_to(REPO)}:/usr/local/bin/replica-entrypoint.sh:ro" in replica["volumes"]
    text = script.read_text()
    assert "--write-recovery-conf" in text
    assert "--wal-method=stream" in text
    assert 'exec docker-entrypoint.sh "$@"' in text


def test_redis_is_a_bounded_cache_without_persistence() -> None:
    command = services()["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert "--maxmemory" in command
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"


def test_monitoring_and_alloy_are_profiles() -> None:
    all_services = services()
    assert all_services["prometheus"]["profiles"] == ["monitoring"]
    assert all_services["grafana"]["profiles"] == ["monitoring"]
    assert all_services["alloy"]["profiles"] == ["alloy"]
    core = {name for name, spec in all_services.items() if not spec.get("profiles")}
    assert core == {"nginx", "api", "migrate", "postgres-primary", "postgres-replica", "redis"}


def test_every_prometheus_target_is_a_compose_service() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    all_services = services()
    for job in config["scrape_configs"]:
        hosts = [name for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
        hosts += [target.split(":")[0] for sc in job.get("static_configs", []) for target in sc["targets"]]
        for host in hosts:
            assert host == "localhost" or host in all_services, f"Prometheus job {job['job_name']} scrapes {host}"


def test_nginx_config_is_the_shared_template_rendered_for_compose() -> None:
    nginx = services()["nginx"]
    mount = "./deploy/nginx/compose.conf:/etc/nginx/nginx.conf:ro"
    assert mount in nginx["volumes"]
    committed = (REPO / "deploy" / "nginx" / "compose.conf").read_text()
    assert committed == render(NginxParams.compose()), (
        "deploy/nginx/compose.conf drifted from the template: "
        "uv run python -m cityscale.stack.nginx --compose > deploy/nginx/compose.conf"
    )
    assert "resolver 127.0.0.11" in committed
    # nginx's container port and the API's port line up with the compose file.
    assert nginx["ports"] == ["${CITYSCALE_HTTP_PORT:-18080}:8080"]
    assert "listen 8080;" in committed
    assert services()["api"]["command"] == ["serve", "--host", "0.0.0.0", "--port", "3000"]  # noqa: S104 (a container listens on all its interfaces)
    assert NginxParams.compose().dynamic_upstream == "api:3000"
