"""The command as a user runs it: gates decide the exit status, errors are counted by kind, writes are recorded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cityscale.loadtest.stats import Stats
from cityscale.stack.ports import free_port
from tests.loadtest.delay_server import DelaySchedule, delay_server

TOKEN = "loadtest-token-7c1e"  # test-only


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityscale", "loadtest", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_a_failed_gate_exits_1_and_says_which() -> None:
    with delay_server(DelaySchedule(delay=0.020)) as server:
        done = run(server.url, "--rate", "100/s", "--duration", "1s", "-q", "--p99", "5ms", "--max-error-rate", "0")
    assert done.returncode == 1, done.stderr
    assert "FAIL  p99 latency" in done.stdout
    assert "pass  error rate: 0.000%" in done.stdout
    assert "Verdict: FAIL (p99 latency)" in done.stdout
    assert "  200         100" in done.stdout  # the status-code table


def test_passing_gates_exit_0_with_live_progress_on_stderr() -> None:
    with delay_server(DelaySchedule(delay=0.001)) as server:
        done = run(server.url, "--rate", "6000/min", "--duration", "1.5s", "--p99", "200ms", "--min-rate", "90/s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verdict: PASS" in done.stdout
    assert "sent " in done.stderr  # the once-a-second progress line
    assert "req/s" in done.stderr


def test_refused_connections_are_counted_as_refused() -> None:
    port = free_port()  # nothing listens there
    done = run(
        f"http://127.0.0.1:{port}/", "--rate", "50/s", "--duration", "0.5s", "-q", "--json", "--max-error-rate", "1%"
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["errors"]["refused"] == report["requests"]["scheduled"] == 25
    assert report["requests"]["error_rate"] == 1.0
    assert report["slo"] == [{"gate": "error rate", "limit": "<= 1.000%", "measured": "100.000%", "passed": False}]


def test_timeouts_and_resets_are_told_apart() -> None:
    with delay_server(DelaySchedule(delay=1.0)) as slow:
        done = run(slow.url, "--rate", "20/s", "--duration", "0.5s", "--timeout", "200ms", "-q", "--json")
    timed_out = json.loads(done.stdout)
    assert timed_out["errors"]["timeout"] == timed_out["requests"]["scheduled"] == 10
    assert "no complete response within 0.2s" in timed_out["error_samples"]["timeout"]
    with delay_server(DelaySchedule(delay=0.0), hang_up=True) as rude:
        done = run(rude.url, "--rate", "20/s", "--duration", "0.5s", "-q", "--json")
    hung_up = json.loads(done.stdout)
    assert hung_up["errors"]["reset"] == hung_up["requests"]["scheduled"] == 10
    assert hung_up["status_codes"] == {}


def test_bad_input_is_one_line_and_exit_2() -> None:
    for args, message in [
        (("http://127.0.0.1:1/", "--rate", "lots"), "rate 'lots'"),
        (("ftp://127.0.0.1/",), "only http://"),
        (("http://127.0.0.1:1/", "-r", "1 POST /api/cities {}"), "needs API_TOKEN"),
    ]:
        done = run(*args, env={"PATH": "/usr/bin:/bin"})
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr


def test_writes_are_recorded_with_their_ids_and_the_token_never_shows(tmp_path: Path) -> None:
    record = tmp_path / "writes.jsonl"
    with delay_server(DelaySchedule(delay=0.001)) as server:
        done = run(
            server.url,
            "--rate", "200/s", "--duration", "1s", "--seed", "3", "--record-writes", str(record),
            "-r", "80 GET /api/cities/{id:1-10}",
            "-r", '20 POST /api/cities {"city_name": "Load {seq}", "country": "Testland"}',
            env={"API_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        received = list(server.bodies)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert 20 <= len(lines) <= 70  # ~20 % of 200
    assert len(lines) == len(received)
    assert all(line["acknowledged"] and line["status"] == 201 and line["error"] is None for line in lines)
    assert sorted(line["id"] for line in lines) == list(range(1, len(lines) + 1))  # the ids the server gave
    assert sorted(line["request_body"].encode() for line in lines) == sorted(received)
    everything = done.stdout + done.stderr + record.read_text()
    assert TOKEN not in everything


def test_stats_travel_between_processes_without_losing_precision() -> None:
    first, second = Stats(), Stats()
    for ms in range(1, 101):
        first.record_response(ms / 1000, 200, 10)
    second.record_response(5.0, 503, 7)
    second.record_error("reset", "peer closed")
    merged = Stats.from_wire(json.loads(json.dumps(first.to_wire())))
    merged.merge(second)
    assert merged.responses == 101
    assert merged.failures == 2  # the 503 and the reset
    assert merged.bytes_received == 1007
    latency = merged.latency_ms()
    assert abs(latency["p50"] - 51) < 0.1
    assert abs(latency["max"] - 5000) < 5


def test_several_processes_share_one_schedule_and_merge_their_results(tmp_path: Path) -> None:
    record = tmp_path / "writes.jsonl"
    with delay_server(DelaySchedule(delay=0.020)) as server:
        done = run(
            server.url,
            "--rate", "200/s", "--duration", "1s", "--processes", "2", "--json", "-q", "--record-writes", str(record),
            "-r", '1 POST /api/cities {"city_name": "Load {seq}", "country": "Testland"}',
            env={"API_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["processes"] == 2
    assert report["requests"]["scheduled"] == report["requests"]["responses"] == 200
    assert report["status_codes"] == {"201": 200}
    assert 18 < report["latency_ms"]["p50"] < 30  # merged histograms: the 20 ms delay, not zero or double
    bodies = [json.loads(line)["request_body"] for line in record.read_text().splitlines()]
    assert len(bodies) == 200  # both processes appended whole lines to one file
    assert sorted(json.loads(body)["city_name"] for body in bodies) == sorted(f"Load {n}" for n in range(1, 201))


@pytest.mark.parametrize("processes", ["1", "2"])
def test_ctrl_c_reports_the_part_that_ran_and_exits_130(processes: str) -> None:
    with delay_server(DelaySchedule(delay=0.010)) as server:
        generator = subprocess.Popen(
            [sys.executable, "-m", "cityscale", "loadtest", server.url, "--rate", "100/s", "--duration", "30s",
             "--processes", processes, "--json", "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            time.sleep(2.5)  # past interpreter start-up: the schedule is running
            generator.send_signal(signal.SIGINT)  # only to the parent: it must stop its children too
            stdout, stderr = generator.communicate(timeout=30)
        finally:
            if generator.poll() is None:
                generator.kill()
                generator.wait()
    assert generator.returncode == 130, stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True
    assert 10 <= report["requests"]["scheduled"] < 3000
    assert report["requests"]["responses"] == report["requests"]["scheduled"]  # drained, none abandoned
    assert report["duration_seconds"] < 5
