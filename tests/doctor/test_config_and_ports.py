"""config layer on raw values (env, .env, compose `environment:`), and network: a real process on a needed port."""

from __future__ import annotations

import os

import psutil

from cityscale.doctor.report import Status
from cityscale.stack.ports import free_port
from tests.doctor.listeners import python_listener
from tests.doctor.worlds import World

COMPOSE_WITH_DB = """services:
  api:
    image: cityscale
    environment:
      DB_HOST: localhost
      DB_CONNECT_TIMEOUT: "0.1"
    ports:
      - {port}:3000
  db:
    image: postgres:17
"""


def test_connect_timeout_of_100_ms_fails_with_source(world: World) -> None:
    world.write("/.env", "DB_CONNECT_TIMEOUT=0.1\n")
    finding = world.check("config.timeouts")
    assert finding.status is Status.FAIL
    assert finding.outcome.evidence[0].startswith(
        "DB_CONNECT_TIMEOUT=0.1 (from /.env): 100 ms is below the 250 ms floor"
    )
    assert "set DB_CONNECT_TIMEOUT=2" in finding.outcome.remediation
    settings = world.check("config.settings")
    assert settings.status is Status.FAIL
    assert "DB_CONNECT_TIMEOUT" in settings.outcome.evidence[0]


def test_environment_overrides_dotenv(world: World) -> None:
    world.write("/.env", "DB_CONNECT_TIMEOUT=0.1\n")
    world.environ["DB_CONNECT_TIMEOUT"] = "3"
    assert world.check("config.timeouts").status is Status.OK


def test_timeout_that_is_not_a_number(world: World) -> None:
    world.environ["DB_ACQUIRE_TIMEOUT"] = "1s"
    finding = world.check("config.timeouts")
    assert finding.status is Status.FAIL
    assert "not a number of seconds" in finding.outcome.evidence[0]


def test_localhost_inside_a_container_fails(world: World) -> None:
    world.write("/.dockerenv", "")
    world.environ["DB_HOST"] = "localhost"
    finding = world.check("config.db-host")
    assert finding.status is Status.FAIL
    assert "DB_HOST points at localhost (from environment)" in finding.outcome.evidence
    assert any("/.dockerenv exists" in e for e in finding.outcome.evidence)


def test_localhost_while_compose_runs_the_database_names_the_service(world: World) -> None:
    world.write("/compose.yaml", COMPOSE_WITH_DB.format(port=free_port()))
    finding = world.check("config.db-host")
    assert finding.status is Status.FAIL
    assert "DB_HOST points at localhost (from /compose.yaml services.api.environment)" in finding.outcome.evidence
    assert finding.outcome.remediation.startswith("set DB_HOST=db")


def test_localhost_on_a_plain_host_is_right(world: World) -> None:
    world.environ["DATABASE_URL"] = "postgresql://u:p@127.0.0.1:5432/cities"
    assert world.check("config.db-host").status is Status.OK


def test_api_token_missing_warns_and_placeholder_fails(world: World) -> None:
    finding = world.check("config.api-token")
    assert finding.status is Status.WARN
    assert "API_TOKEN=$(python3 -c" in finding.outcome.remediation
    world.environ["API_TOKEN"] = "changeme"
    placeholder = world.check("config.api-token")
    assert placeholder.status is Status.FAIL
    assert "API_TOKEN=$(python3 -c" in placeholder.outcome.remediation


def test_compose_unquoted_ports_and_missing_healthchecks_warn(world: World) -> None:
    world.write("/compose.yaml", COMPOSE_WITH_DB.format(port=free_port()))
    ports = world.check("config.compose-ports")
    assert ports.status is Status.WARN
    assert ports.outcome.evidence[0].startswith("/compose.yaml:8: service 'api': - ")
    assert ports.outcome.remediation.startswith("sed -i '8s/- ")
    health = world.check("config.compose-healthchecks")
    assert health.status is Status.WARN
    assert len(health.outcome.evidence) == 2
    assert "depends_on: {db: {condition: service_healthy}}" in health.outcome.remediation


DISABLED_HEALTHCHECKS = """services:
  db:
    image: postgres:18
    healthcheck: {test: ["CMD", "pg_isready"]}
  migrate:
    image: cityscale
    healthcheck: {disable: true}
    depends_on: {db: {condition: service_healthy}}
  api:
    image: cityscale
    healthcheck: {test: ["CMD", "true"]}
    depends_on: {migrate: {condition: %s}}
"""


def test_a_disabled_healthcheck_is_fine_unless_someone_waits_for_healthy(world: World) -> None:
    world.write("/compose.yaml", DISABLED_HEALTHCHECKS % "service_completed_successfully")
    finding = world.check("config.compose-healthchecks")
    assert finding.status is Status.OK
    assert "migrate" in finding.outcome.summary
    world.write("/compose.yaml", DISABLED_HEALTHCHECKS % "service_healthy")
    blocked = world.check("config.compose-healthchecks")
    assert blocked.status is Status.FAIL
    assert "service 'migrate'" in blocked.outcome.evidence[0]
    assert "condition: service_started" in blocked.outcome.remediation


def test_compose_that_does_not_parse_fails(world: World) -> None:
    world.write("/compose.yaml", "services:\n  api: [\n")
    assert world.check("config.compose-ports").status is Status.FAIL
    assert world.check("config.compose-healthchecks").status is Status.SKIP


def test_port_held_by_another_process_is_named(world: World) -> None:
    port = free_port()
    with python_listener(port) as proc:
        finding = world.check("network.ports", ports=[port])
    assert finding.status is Status.FAIL
    user = psutil.Process(os.getpid()).username()
    assert finding.outcome.evidence[0].startswith(f"port {port} is taken by python")
    assert f"(pid {proc.pid}, user {user})" in finding.outcome.evidence[0]
    assert f"kill {proc.pid}" in finding.outcome.remediation


def test_published_compose_port_held_by_another_process(world: World) -> None:
    port = free_port()
    world.write("/compose.yaml", f"services:\n  db:\n    image: postgres:17\n    ports: ['{port}:5432']\n")
    with python_listener(port):
        finding = world.check("network.ports", ports=[])
    assert finding.status is Status.FAIL
    assert f"needed for /compose.yaml service 'db' publishes '{port}:5432'" in finding.outcome.evidence[0]


def test_free_ports_are_ok(world: World) -> None:
    finding = world.check("network.ports", ports=[free_port()])
    assert finding.status is Status.OK


def test_compose_env_file_is_read_and_environment_wins_over_it(world: World) -> None:
    world.write("/config/api.env", "DB_ACQUIRE_TIMEOUT=0.05\nDB_STATEMENT_TIMEOUT=0.01\n")
    world.write(
        "/compose.yaml",
        "services:\n  api:\n    image: cityscale\n    env_file: [config/api.env]\n"
        "    environment:\n      DB_STATEMENT_TIMEOUT: '5'\n",
    )
    finding = world.check("config.timeouts")
    assert finding.status is Status.FAIL
    assert finding.outcome.evidence[0].startswith("DB_ACQUIRE_TIMEOUT=0.05 (from /config/api.env): 50 ms")
    assert len(finding.outcome.evidence) == 1
