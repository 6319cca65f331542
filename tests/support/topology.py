"""The read path's real parts for a test: a primary, a streaming replica, Redis and API instances.

Started with the same launchers `cityscale up` uses (cityscale.stack), on free ports, in a temp dir.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.ports import free_port
from cityscale.stack.postgres import PostgresCluster
from cityscale.stack.redis import RedisServer
from tests.support.servers import create_template, remove, scratch_dir

DB = "cities_template"
API_TOKEN = "test-token-3f9a1c"


@dataclass
class Topology:
    base: Path
    primary: PostgresCluster
    replica: PostgresCluster
    redis: RedisServer
    apis: list[ApiInstance] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            "DATABASE_URL": self.primary.url(DB),
            "DB_REPLICA_URLS": self.replica.url(DB),
            "REDIS_URL": self.redis.url,
            "API_TOKEN": API_TOKEN,
            "LOG_LEVEL": "warning",
            "MAX_REPLICA_LAG": "1",
            "DB_CONNECT_TIMEOUT": "0.5",
            "DB_ACQUIRE_TIMEOUT": "0.5",
            "DB_STATEMENT_TIMEOUT": "2",
            "CACHE_TTL": "30",
            **overrides,
        }

    def start_api(self, **overrides: str) -> ApiInstance:
        port = free_port()
        api = ApiInstance(
            f"api-{len(self.apis) + 1}",
            port=port,
            env=self.env(**overrides),
            log_path=self.base / "logs" / f"api-{port}.log",
        )
        api.start()
        self.apis.append(api)
        return api

    async def query_primary(self, sql: str, *args: object) -> list[asyncpg.Record]:
        return await _query(self.primary.url(DB), sql, *args)

    async def query_replica(self, sql: str, *args: object) -> list[asyncpg.Record]:
        return await _query(self.replica.url(DB), sql, *args)


async def _query(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


@contextmanager
def topology(*, instances: int = 2, seed_limit: int = 3000, **overrides: str) -> Iterator[Topology]:
    base = scratch_dir("topology")
    with ExitStack() as cleanup:
        cleanup.callback(remove, base)
        primary = PostgresCluster(base / "primary")
        primary.create_primary(durable=False)
        cleanup.callback(primary.destroy)
        primary.start()
        asyncio.run(create_template(primary, seed_limit=seed_limit))
        asyncio.run(_query(primary.url(DB), "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        replica = PostgresCluster(base / "replica")
        replica.create_replica_of(primary, durable=False)
        cleanup.callback(replica.destroy)
        replica.start()
        replica.wait_until_accepting()
        redis = RedisServer(base / "redis")
        redis.start()
        cleanup.callback(redis.stop)
        redis.wait_ready()
        topo = Topology(base, primary, replica, redis)
        for _ in range(instances):
            api = topo.start_api(**overrides)
            cleanup.callback(api.stop)
        for api in topo.apis:
            api.wait_ready()
        yield topo
