"""The README's run path for one instance: `cityscale serve` with no database configured.

The first start creates a private PostgreSQL cluster in the data directory, migrates and seeds it, and
serves; stopping the service stops that cluster; the second start reuses it as it was left (no new
cluster, no second seed: a city written in the first run is still there).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.ports import free_port
from cityscale.stack.postgres import PostgresCluster
from tests.support.servers import remove, scratch_dir

TOKEN = "embedded-test-token"
CREATED = "cityscale: creating a private PostgreSQL cluster"
SEEDING = "cityscale: loading the GeoNames cities (first run only)"


def start_serve(name: str, data_dir_args: tuple[str, ...], env: dict[str, str], log_dir: Path) -> ApiInstance:
    port = free_port()
    # No DATABASE_URL and no DB_*: ApiInstance passes only what is given here (plus PATH, HOME, ...).
    instance = ApiInstance(
        name, port=port, env={"API_TOKEN": TOKEN, **env}, log_path=log_dir / f"{name}.log", extra_args=data_dir_args
    )
    instance.start()
    return instance


def test_serve_without_a_database_creates_seeds_and_later_reuses_a_private_cluster() -> None:
    base = scratch_dir("embedded")
    data_dir = base / "data"
    try:
        first = start_serve("first", (), {"CITYSCALE_DATA_DIR": str(data_dir)}, base)
        try:
            first.wait_ready(timeout=300)  # creating the cluster and loading 34,000 cities: slow on a busy box
            with httpx.Client(base_url=first.url, timeout=10) as client:
                assert client.get("/api/cities/1").json()["city_name"] == "Shanghai"
                page = client.get("/api/cities", params={"country": "DE", "limit": 1000}).json()
                assert len(page) > 100  # seeded with the real data set, not a sample
                written = client.post(
                    "/api/cities",
                    json={"city_name": "Embeddedville", "country": "Testland"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert written.status_code == 201, written.text
                written_id = written.json()["id"]
        finally:
            first_status = first.stop()
        assert first_status == 0  # SIGTERM: drained and exited cleanly
        first_log = first.log_path.read_text()
        assert CREATED in first_log
        assert SEEDING in first_log
        assert f"serving http://127.0.0.1:{first.port}/api/cities" in first_log
        cluster = PostgresCluster(data_dir / "postgres")
        assert cluster.exists
        assert not cluster.is_running()  # the service stopped its private database on the way out

        # Second start, data dir given as the option this time: same cluster, not created nor seeded again.
        second = start_serve("second", ("--data-dir", str(data_dir)), {}, base)
        try:
            second.wait_ready(timeout=120)
            with httpx.Client(base_url=second.url, timeout=10) as client:
                assert client.get(f"/api/cities/{written_id}").json()["city_name"] == "Embeddedville"
                assert client.get("/api/cities/1").json()["city_name"] == "Shanghai"
        finally:
            second_status = second.stop()
        assert second_status == 0
        second_log = second.log_path.read_text()
        assert CREATED not in second_log
        assert SEEDING not in second_log
        assert "seeding cities" not in second_log
        assert not cluster.is_running()
    finally:
        remove(base)
