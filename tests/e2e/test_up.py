"""`cityscale up` end to end, through nginx: 1 primary, 1 replica, Redis, 2 API instances, nginx.

The tests share one data directory and run in file order: the first starts the stack for the first time
(creation, migration, seed); the later ones restart it on the same directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from cityscale.stack.exporters import missing_exporters
from cityscale.stack.ports import port_holder
from cityscale.stack.prometheus import prometheus_binary
from cityscale.stack.state import StackState, is_locked
from cityscale.stack.topology import DEFAULT_PORT
from tests.e2e.up_process import UpProcess, processes_mentioning
from tests.support.load import SteadyLoad
from tests.support.logs import wait_for_lines
from tests.support.servers import remove, scratch_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    base = scratch_dir("up")
    yield base / "stack"
    remove(base)


@pytest.fixture(scope="module")
def running(data_dir: Path) -> Iterator[UpProcess]:
    """The stack, started once for the tests that only need it running."""
    up = UpProcess(data_dir, extra_args=("--auto-ports",)).start()
    yield up
    up.kill_leftovers()


def test_reads_and_writes_go_through_nginx(running: UpProcess) -> None:
    with httpx.Client(base_url=running.url, timeout=10) as client:
        first = client.get("/api/cities/1")
        assert first.status_code == 200
        assert first.json()["city_name"] == "Shanghai"
        assert first.headers["server"] == "nginx"
        assert len(client.get("/api/cities", params={"limit": 1000}).json()) == 300  # --seed-limit

        refused = client.post("/api/cities", json={"city_name": "Nowhere", "country": "France"})
        assert refused.status_code == 401

        created = client.post(
            "/api/cities",
            json={"city_name": "Testville", "country": "France", "state": "Bretagne", "population": 1234},
            headers={"Authorization": f"Bearer {running.token}"},
        )
        assert created.status_code == 201
        read_back = client.get(created.headers["location"])
        assert read_back.status_code == 200
        assert read_back.json()["city_name"] == "Testville"

        assert client.get("/metrics").status_code == 404  # instance metrics are not public
        echoed = client.get("/healthz", headers={"X-Request-ID": "e2e-request-1"})
        assert echoed.headers["x-request-id"] == "e2e-request-1"


def test_the_token_file_is_private(running: UpProcess) -> None:
    mode = (running.data_dir / "api-token").stat().st_mode & 0o777
    assert mode == 0o600


def test_status_reports_every_component_healthy(running: UpProcess) -> None:
    status = running.status_json()
    assert status["exit_code"] == 0
    assert status["running"] is True
    components = status["components"]
    expected = ["api-1", "api-2", "nginx", "primary", "redis", "replica-1"]
    if prometheus_binary() is not None:  # `up` runs Prometheus, and the installed exporters, when it can
        expected.append("prometheus")
        exporters = {
            "nginx-exporter": "prometheus-nginx-exporter",
            "redis-exporter": "prometheus-redis-exporter",
            "postgres-exporter-primary": "prometheus-postgres-exporter",
            "postgres-exporter-replica-1": "prometheus-postgres-exporter",
        }
        expected += [name for name, package in exporters.items() if package not in missing_exporters()]
    assert sorted(components) == sorted(expected)
    for name, component in components.items():
        assert component["healthy"] is True, (name, component)
        assert psutil.pid_exists(component["pid"])
        assert isinstance(component["port"], int)
    assert components["nginx"]["port"] == running.port
    assert components["replica-1"]["lag_bytes"] is not None

    table = subprocess.run(
        [sys.executable, "-m", "cityscale", "status", "--data-dir", str(running.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert table.returncode == 0
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[2:]}
    assert sorted(rows) == sorted(components)
    assert rows["nginx"][1:4] == [str(components["nginx"]["pid"]), str(running.port), "yes"]
    assert "streaming" in " ".join(rows["replica-1"])


def test_the_banner_names_every_part_s_url_and_log_and_every_link_answers(running: UpProcess) -> None:
    banner = running.output().split("cityscale is up:", 1)[1].split("Ctrl-C stops everything.", 1)[0]
    components = running.status_json()["components"]
    for name, component in components.items():
        line = next((line for line in banner.splitlines() if line.split()[:1] == [name]), None)
        assert line is not None, f"{name} is not in the banner:\n{banner}"
        assert component["log"] in line, (name, line)
        assert Path(component["log"]).exists(), (name, component["log"])
    for log in ("access.log", "error.log"):
        assert str(running.data_dir / "nginx" / "logs" / log) in banner
    assert "redis/redis.log" in banner
    urls = re.findall(r"http://127\.0\.0\.1:\d+[^\s;)]*", banner)
    assert len(urls) >= 2 + 2 * 2  # nginx (API, docs, status), each instance (readyz, metrics), ...
    for url in urls:
        answer = httpx.get(url, timeout=10, follow_redirects=True)
        assert answer.status_code == 200, (url, answer.status_code)
    if "prometheus" in components:
        assert re.search(r"alerts: http://127\.0\.0\.1:\d+/(classic/)?alerts;", banner), banner


def test_prometheus_scrapes_every_instance_and_loads_the_alert_rules(running: UpProcess) -> None:
    if prometheus_binary() is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus), so `up` runs without it")
    prometheus = f"http://127.0.0.1:{running.status_json()['components']['prometheus']['port']}"
    deadline = time.monotonic() + 30
    while True:
        result = httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="cityscale"} == 1'}, timeout=5)
        if len(result.json()["data"]["result"]) == 2:  # both API instances scraped and up
            break
        assert time.monotonic() < deadline, result.text
        time.sleep(0.5)
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert "CityscaleInstanceDown" in {rule["name"] for group in rules for rule in group["rules"]}
    # The installed exporters are scraped too, and export the names the dashboard lint relies on.
    jobs = {
        "nginx": "prometheus-nginx-exporter",
        "redis": "prometheus-redis-exporter",
        "postgres": "prometheus-postgres-exporter",
    }
    documented = yaml.safe_load(Path("deploy/grafana/exporter-metrics.yml").read_text())
    for job, package in jobs.items():
        if package in missing_exporters():
            continue
        while True:
            query = {"query": f'count by (__name__) ({{job="{job}"}})'}
            found = {
                r["metric"]["__name__"]
                for r in httpx.get(f"{prometheus}/api/v1/query", params=query).json()["data"]["result"]
            }
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # postgres_exporter's replication collector came in 0.13 (the Compose image); Debian 12 ships 0.11.
        newer_only = {"pg_replication_lag_seconds", "pg_replication_is_replica"}
        assert set(documented[job]["metrics"]) - newer_only - found == set(), job


def test_a_second_up_on_the_same_data_dir_says_so(running: UpProcess) -> None:
    result = subprocess.run(
        [*UpProcess(running.data_dir).argv(), "--auto-ports"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"cityscale: another `cityscale up` (pid {running.state.owner_pid}) is already running on "
        f"{running.data_dir}; see `cityscale status --data-dir {running.data_dir}`, stop it with Ctrl-C or "
        f"`kill {running.state.owner_pid}`"
    )
    assert running.running  # and the first one was not disturbed


async def test_killing_an_instance_costs_no_get(running: UpProcess) -> None:
    victim = running.state.components["api-1"]
    assert victim.pid is not None
    load = SteadyLoad([running.url], paths=lambda rng: f"/api/cities/{rng.randint(1, 300)}", workers=4)
    load.start()
    await asyncio.sleep(1.0)
    killed_at = time.monotonic()
    os.killpg(victim.pid, signal.SIGKILL)  # the instance and its worker, as if the machine took it away
    await asyncio.sleep(2.0)
    outcomes = await load.stop()

    after_kill = [o for o in outcomes if o.at >= killed_at]
    assert len(after_kill) > 20, "the load did not keep going after the kill"
    failed = [o for o in outcomes if o.status != 200]
    assert failed == [], f"{len(failed)} of {len(outcomes)} GETs failed: {failed[:5]}"

    # nginx did meet the dead instance, and moved those GETs on to the live one (two upstreams in one entry).
    retried = wait_for_lines(
        running.data_dir / "nginx" / "logs" / "access.log",
        matching=lambda line: f'"upstream":"127.0.0.1:{victim.port}, ' in line,
    )
    assert retried, "no request was retried: the kill did not exercise nginx's failover"
    assert all('"status":200' in line for line in retried)

    # The supervisor notices and brings the instance back.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replacement = running.state.components["api-1"]
        if replacement.pid != victim.pid and running.status_json()["components"]["api-1"]["healthy"]:
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail(f"api-1 was not restarted:\n{running.output()}")
    assert "api-1 exited (status -9); restarting it" in running.output()


def test_ctrl_c_stops_every_child(running: UpProcess) -> None:
    processes = running.every_process()
    assert len(processes) >= 8  # up, 2 postmasters, redis, 2 instances (and workers), nginx (and a worker)
    assert running.stop(signal.SIGINT) == 0
    alive = [p for p in processes if _still_running(p)]
    assert alive == [], f"left running after Ctrl-C: {[(p.pid, p.name()) for p in alive]}"
    assert processes_mentioning(running.data_dir) == []
    assert not is_locked(running.data_dir)
    assert not (running.data_dir / "state.json").exists()
    assert list(running.data_dir.rglob("*.pid")) == []  # nginx.pid, postmaster.pid: none left stale
    assert "stopped; every part is down" in running.output()
    status = running.status_json()
    assert (status["running"], status["exit_code"]) == (False, 1)


def test_a_restart_on_the_same_data_dir_keeps_the_data(data_dir: Path) -> None:
    # After the tests above: the data dir exists, `up` is stopped. SIGTERM works as Ctrl-C does.
    first = UpProcess(data_dir, extra_args=("--auto-ports",)).start()
    try:
        headers = {"Authorization": f"Bearer {first.token}"}
        created = httpx.post(
            f"{first.url}/api/cities", json={"city_name": "Keepsake", "country": "Japan"}, headers=headers, timeout=10
        )
        assert created.status_code == 201
        processes = first.every_process()
        assert first.stop(signal.SIGTERM) == 0
    finally:
        first.kill_leftovers()
    alive = [p for p in processes if _still_running(p)]
    assert alive == [], f"left running after SIGTERM: {[(p.pid, p.name()) for p in alive]}"
    assert not is_locked(data_dir)
    assert list(data_dir.rglob("*.pid")) == []
    output_before = first.output()

    second = UpProcess(data_dir, extra_args=("--auto-ports",)).start()
    try:
        assert "creating" not in second.output()[len(output_before) :]  # nothing created again
        found = httpx.get(f"{second.url}{created.headers['location']}", timeout=10)
        assert found.status_code == 200
        assert found.json()["city_name"] == "Keepsake"
        assert second.stop(signal.SIGINT) == 0
    finally:
        second.kill_leftovers()


def test_rate_limit_answers_429_beyond_the_limit_when_asked(data_dir: Path) -> None:
    up = UpProcess(data_dir, extra_args=("--auto-ports", "--rate-limit", "2")).start()
    try:
        with httpx.Client(base_url=up.url, timeout=10) as client:
            # 2 per second plus a burst of 2: at most about 4 of 20 back-to-back GETs pass.
            answers = [client.get("/healthz") for _ in range(20)]
        statuses = [answer.status_code for answer in answers]
        assert statuses[0] == 200
        assert statuses.count(429) >= 10, statuses
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert up.stop(signal.SIGINT) == 0
    finally:
        up.kill_leftovers()
    # Without --rate-limit the same burst is never refused (also what every test above relies on).
    up = UpProcess(data_dir, extra_args=("--auto-ports",)).start()
    try:
        with httpx.Client(base_url=up.url, timeout=10) as client:
            assert {client.get("/healthz").status_code for _ in range(20)} == {200}
        assert up.stop(signal.SIGINT) == 0
    finally:
        up.kill_leftovers()


def test_auto_ports_moves_off_a_taken_default_port_and_status_reports_the_new_ones(data_dir: Path) -> None:
    saved = json.loads((data_dir / "ports.json").read_text())
    with contextlib.ExitStack() as held:
        for port in (DEFAULT_PORT, saved["redis"], saved["api-1"]):
            sock = held.enter_context(socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):  # already taken by someone else: taken all the same
                sock.bind(("127.0.0.1", port))
                sock.listen()
            assert port_holder(port) is not None, port
        up = UpProcess(data_dir, port=None, extra_args=("--auto-ports",)).start()
        try:
            components = up.status_json()["components"]
            moved = {name: components[name]["port"] for name in ("nginx", "redis", "api-1")}
            assert moved["nginx"] != DEFAULT_PORT
            assert moved["redis"] != saved["redis"]
            assert moved["api-1"] != saved["api-1"]
            assert all(component["healthy"] for component in components.values()), components
            assert up.url == f"http://127.0.0.1:{moved['nginx']}"
            assert f"cityscale is up: {up.url}/api/cities" in up.output()
            assert httpx.get(f"{up.url}/api/cities/1", timeout=10).status_code == 200
            assert up.stop(signal.SIGINT) == 0
        finally:
            up.kill_leftovers()


def test_an_up_killed_with_sigkill_blocks_nothing_and_leaves_no_orphans(data_dir: Path) -> None:
    first = UpProcess(data_dir, extra_args=("--auto-ports",)).start()
    try:
        left_behind = [p for p in first.every_process() if p.pid != first.state.owner_pid]
        first.stop(signal.SIGKILL)  # no clean-up at all: its servers keep running, its lock file stays
    except BaseException:
        first.kill_leftovers()
        raise
    assert (data_dir / "up.lock").exists()
    assert any(_still_running(p) for p in left_behind)

    second = UpProcess(data_dir, extra_args=("--auto-ports",)).start()
    try:
        assert "left running by a previous `up`" in second.output()
        assert httpx.get(f"{second.url}/api/cities/1", timeout=10).status_code == 200
        processes = second.every_process()
        assert second.stop(signal.SIGHUP) == 0  # the terminal closing stops it as cleanly as Ctrl-C
    finally:
        second.kill_leftovers()
    alive = [p for p in [*left_behind, *processes] if _still_running(p)]
    assert alive == [], f"left running: {[(p.pid, p.name()) for p in alive]}"


def test_an_up_killed_while_starting_had_its_parts_on_record_and_the_next_one_stops_them(data_dir: Path) -> None:
    first = UpProcess(data_dir, extra_args=("--auto-ports",))
    with first.stderr_path.open("ab") as stderr:
        first.process = subprocess.Popen(first.argv(), stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while True:  # the instances are started and recorded, still booting: not ready
            state = StackState.load(data_dir)
            if state is not None and state.owner_pid == first.process.pid and "api-2" in state.components:
                break
            assert first.process.poll() is None, first.output()
            assert time.monotonic() < deadline, first.output()
            time.sleep(0.02)
        assert state.ready is False
        first.stop(signal.SIGKILL)
    except BaseException:
        first.kill_leftovers()
        raise
    orphans = {name: psutil.Process(state.components[name].pid) for name in ("redis", "api-1", "api-2")}
    assert all(_still_running(p) for p in orphans.values())  # orphaned by the kill, holding their ports

    second = UpProcess(data_dir, extra_args=("--auto-ports",)).start()
    try:
        for name, process in orphans.items():
            assert f"stopping {name} (pid {process.pid}) left running by a previous `up`" in second.output()
            assert not _still_running(process)
        assert httpx.get(f"{second.url}/api/cities/1", timeout=10).status_code == 200
        assert second.stop(signal.SIGINT) == 0
    finally:
        second.kill_leftovers()
    assert processes_mentioning(data_dir) == []


def test_a_taken_port_is_named_before_anything_starts(data_dir: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        up = UpProcess(data_dir, port=port)
        result = subprocess.run(up.argv(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    me = psutil.Process()
    assert f"nginx: port {port} is taken by {me.name()} (pid {os.getpid()}, user {me.username()})" in lines[0]
    assert "--auto-ports" in lines[0]
    assert processes_mentioning(data_dir) == []  # nothing was started
    assert not is_locked(data_dir)


def test_ctrl_c_during_the_first_run_leaves_a_data_dir_the_next_run_completes() -> None:
    base = scratch_dir("up-interrupted")
    data_dir = base / "stack"
    try:
        first = UpProcess(data_dir, extra_args=("--auto-ports",))
        with first.stderr_path.open("ab") as stderr:
            first.process = subprocess.Popen(first.argv(), stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 120
        while "creating replica-1" not in first.output() and time.monotonic() < deadline:
            assert first.process.poll() is None, first.output()
            time.sleep(0.05)
        # The state is on record from the start, with the parts started so far, and not ready.
        starting = StackState.load(data_dir)
        assert starting is not None
        assert (starting.owner_pid, starting.ready) == (first.process.pid, False)
        assert "primary" in starting.components
        assert "nginx" not in starting.components
        assert first.stop(signal.SIGINT) == 0  # in the middle of pg_basebackup, or just after it
        assert processes_mentioning(data_dir) == []

        second = UpProcess(data_dir, extra_args=("--auto-ports",)).start()
        try:
            cities = httpx.get(f"{second.url}/api/cities", params={"limit": 1000}, timeout=10).json()
            assert len(cities) == 300
            assert second.status_json()["components"]["replica-1"]["healthy"] is True
            assert second.stop(signal.SIGINT) == 0
        finally:
            second.kill_leftovers()
    finally:
        remove(base)


def test_an_unusable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "cityscale", "up", "--data-dir", str(blocker / "stack")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert (
        result.stderr == f"cityscale: cannot use {blocker / 'stack'} as the stack's data directory: Not a directory\n"
    )


def test_help_explains_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cityscale", "up", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for option in ("--replicas", "--instances", "--port", "--data-dir", "--auto-ports", "--seed-limit"):
        assert option in result.stdout


def _still_running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
