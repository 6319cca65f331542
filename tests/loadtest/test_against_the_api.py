"""The real service under load: a mix of reads and authenticated writes against `cityscale serve` on a
real PostgreSQL, and every write the record says was acknowledged is readable afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import API_TOKEN
from tests.support.servers import api_instance


def test_recorded_writes_name_rows_that_exist(api_env: dict[str, str], tmp_path: Path) -> None:
    record = tmp_path / "writes.jsonl"
    with api_instance(api_env, tmp_path) as api:
        base = api.url
        done = subprocess.run(
            [sys.executable, "-m", "cityscale", "loadtest", base, "--rate", "60/s", "--duration", "1s", "-q", "--json",
             "--seed", "5", "--max-error-rate", "0", "--record-writes", str(record),
             "-r", "70 GET /api/cities/{id:1-50}",
             "-r", "10 GET /api/cities?limit=5&min_population={pick:100000|1000000}",
             "-r", '20 POST /api/cities {"city_name": "Loadtest {seq}", "country": "Testland", "population": 1}'],
            capture_output=True, text=True, timeout=60, check=False,
            env={"API_TOKEN": API_TOKEN, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["requests"]["responses"] == 60
        assert report["status_codes"].get("201", 0) > 0
        writes = [json.loads(line) for line in record.read_text().splitlines()]
        assert len(writes) == report["status_codes"]["201"]
        for write in writes:
            assert write["acknowledged"], write
            assert isinstance(write["id"], int), write
            answer = httpx.get(f"{base}/api/cities/{write['id']}", timeout=5)
            assert answer.status_code == 200
            city = answer.json()
            assert city["city_name"] == json.loads(write["request_body"])["city_name"]
    assert API_TOKEN not in done.stdout + done.stderr + record.read_text()
