"""The README's run path for one instance: `cityscale serve` with no database configured.

The first start creates a private PostgreSQL cluster in the data directory, migrates and seeds it, and
serves; stopping the service stops that cluster; the second start reuses it as it was left (no new
cluster, no second seed: a city written in the first run is still there).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

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


# Without PostgreSQL installed: apt-get cannot really run on this shared machine, so the two facts the
# code asks about (are the binaries there? may we use apt?) and the install itself are stand-ins.


def test_without_postgresql_and_no_apt_serve_prints_the_exact_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cityscale.cli import main
    from cityscale.stack import binaries

    monkeypatch.setattr(binaries, "_find_postgres_bin_dir", lambda: None)
    monkeypatch.setattr(binaries, "can_apt_install", lambda: False)
    for name in ("DATABASE_URL", "DB_HOST"):
        monkeypatch.delenv(name, raising=False)
    data_dir = scratch_dir("no-postgres")  # one the postgres user could enter: that check passes first
    monkeypatch.setattr("sys.argv", ["cityscale", "serve", "--port", str(free_port()), "--data-dir", str(data_dir)])
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        remove(data_dir)
    assert exited.value.code == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("cityscale: PostgreSQL server binaries (initdb, pg_ctl) not found; install them with: ")
    assert last.endswith("apt-get install -y postgresql")


def test_without_postgresql_as_root_it_installs_them_with_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    from cityscale.stack import binaries

    installed: list[list[str]] = []
    found = [None, Path("/usr/lib/postgresql/15/bin")]  # missing before the install, there after it
    monkeypatch.setattr(binaries, "_find_postgres_bin_dir", lambda: found[len(installed)])
    monkeypatch.setattr(binaries, "can_apt_install", lambda: True)
    monkeypatch.setattr(binaries, "apt_install", installed.append)
    assert binaries.postgres_bin_dir() == Path("/usr/lib/postgresql/15/bin")
    assert installed == [["postgresql"]]
