"""A small real stack with everything Prometheus scrapes: two API instances (with Redis), nginx with its
stub_status, and Debian's nginx, PostgreSQL and Redis exporters, started with the launchers `cityscale
up` uses (cityscale.stack). The exporters' metric names come from scraping them, not from a list."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.exporters import (
    Exporter,
    missing_exporters,
    nginx_exporter,
    postgres_exporter,
    redis_exporter,
    start_all,
)
from cityscale.stack.nginx import NginxParams, NginxServer
from cityscale.stack.ports import free_ports
from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.prometheus import ScrapeTargets
from tests.support.servers import api_instance, clone_database_sync, remove, running_redis, scratch_dir

JOB_OF_EXPORTER = {"nginx-exporter": "nginx", "postgres-exporter-primary": "postgres", "redis-exporter": "redis"}


@dataclass
class Monitored:
    apis: list[ApiInstance]
    nginx: NginxServer
    exporters: dict[str, Exporter]  # by job: nginx, postgres, redis (only the installed ones)
    missing: list[str]  # Debian packages of exporters that are not installed
    said: list[str]  # what start_all reported (an installed exporter that failed to start)

    def targets(self) -> ScrapeTargets:
        return ScrapeTargets(
            api=[f"127.0.0.1:{api.port}" for api in self.apis],
            nginx_exporter=self.exporters["nginx"].address if "nginx" in self.exporters else None,
            postgres_exporters=[("primary", self.exporters["postgres"].address)]
            if "postgres" in self.exporters
            else [],
            redis_exporter=self.exporters["redis"].address if "redis" in self.exporters else None,
        )

    def exported_names(self, job: str) -> set[str]:
        """Every sample name the exporter of `job` serves right now."""
        text = httpx.get(f"http://{self.exporters[job].address}/metrics", timeout=10).text
        return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


@contextmanager
def monitored_stack(pg: PostgresCluster) -> Iterator[Monitored]:
    base = scratch_dir("monitored")
    with ExitStack() as cleanup:
        cleanup.callback(remove, base)
        redis = cleanup.enter_context(running_redis("monitored-redis"))
        env = {
            "DATABASE_URL": clone_database_sync(pg),
            "REDIS_URL": redis.url,
            "LOG_LEVEL": "warning",
        }
        apis = [cleanup.enter_context(api_instance(env, base / f"api-{n}")) for n in (1, 2)]
        public, status, *exporter_ports = free_ports(5)
        nginx = NginxServer(
            base / "nginx",
            NginxParams.native(
                base / "nginx",
                port=public,
                status_port=status,
                instance_ports=[api.port for api in apis],
                worker_processes="1",
            ),
        )
        nginx.start()
        cleanup.callback(nginx.stop)
        nginx.wait_ready()
        said: list[str] = []
        started = start_all(
            [
                nginx_exporter(exporter_ports[0], nginx.status_url, base),
                postgres_exporter(
                    "postgres-exporter-primary", exporter_ports[1], env["DATABASE_URL"] + "?sslmode=disable", base
                ),
                redis_exporter(exporter_ports[2], redis.url, base),
            ],
            say=said.append,
        )
        for exporter in started:
            cleanup.callback(exporter.stop)
        # Traffic through nginx, so request and cache histograms have samples.
        for path in ("/api/cities/1", "/api/cities/1", "/api/cities?limit=2"):
            assert httpx.get(f"{nginx.url}{path}", timeout=10).status_code == 200
        exporters = {JOB_OF_EXPORTER[e.name]: e for e in started}
        yield Monitored(apis, nginx, exporters, missing=missing_exporters(), said=said)
