"""Scrape a real `cityscale serve` on a real PostgreSQL: RED per route, pool exhaustion, errors, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cityscale.stack.api_instance import ApiInstance
from tests.observability.scrape import baseline, label_values, scrape, value
from tests.support.locks import cities_locked
from tests.support.servers import api_instance

pytestmark = pytest.mark.slow

ITEM = "/api/cities/{id}"


@pytest.fixture
def small_pool_api(api_env: dict[str, str], tmp_path: Path) -> Iterator[ApiInstance]:
    """One connection, a short acquire timeout and no cache: every read needs that one connection."""
    env = {
        **api_env,
        "DB_POOL_MAX": "1",
        "DB_POOL_MIN": "0",
        # Long enough for a scrape on a loaded machine to see the waiter; the stuck query outlasts it.
        "DB_ACQUIRE_TIMEOUT": "1",
        "DB_STATEMENT_TIMEOUT": "3",
        "CACHE_TTL": "0",
    }
    with api_instance(env, tmp_path) as api:
        yield api


async def test_traffic_moves_red_metrics_per_route_template(small_pool_api: ApiInstance) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        before = await scrape(client, small_pool_api.url)
        for city_id in (1, 2, 3, 999_999_999):
            await client.get(f"{small_pool_api.url}/api/cities/{city_id}")
        await client.get(f"{small_pool_api.url}/api/cities?limit=5")
        await client.get(f"{small_pool_api.url}/no/such/path/42")
        await client.request("BREW", f"{small_pool_api.url}/api/cities/1")
        after = await scrape(client, small_pool_api.url)

    count = "cityscale_http_request_duration_seconds_count"
    assert (
        value(after, count, route=ITEM, method="GET", status_class="2xx")
        - baseline(before, count, route=ITEM, method="GET", status_class="2xx")
        == 3
    )
    assert value(after, count, route=ITEM, method="GET", status_class="4xx") == 1  # the unknown id
    assert value(after, count, route="/api/cities", method="GET", status_class="2xx") == 1
    assert value(after, count, route="unmatched", status_class="4xx") == 1
    assert value(after, count, route=ITEM, method="other") == 1  # 405, method folded into "other"
    # Bounded labels: templates only, never a raw path or id; methods from a closed set.
    routes = label_values(after, count, "route")
    assert routes <= {ITEM, "/api/cities", "/healthz", "/readyz", "/metrics", "unmatched"}
    assert label_values(after, count, "method") <= {"GET", "other"}
    # Histogram buckets resolve 1 ms to 5 s.
    les = label_values(after, "cityscale_http_request_duration_seconds_bucket", "le")
    assert {"0.001", "5.0", "+Inf"} <= les
    # Pool acquisitions were timed, per pool and role.
    assert value(after, "cityscale_db_pool_acquire_seconds_count", pool="primary", role="primary") > baseline(
        before, "cityscale_db_pool_acquire_seconds_count", pool="primary", role="primary"
    )
    assert value(after, "cityscale_db_pool_max", pool="primary", role="primary") == 1
    assert value(after, "cityscale_build_info") == 1
    assert value(after, "cityscale_db_server_up", pool="primary") == 1
    assert value(after, "process_open_fds") > 0  # process metrics ride along (the leak showed up in fds)


async def test_pool_exhaustion_shows_in_use_waiters_timeouts_and_errors(
    small_pool_api: ApiInstance, database_url_of_api: str
) -> None:
    """A session holding a lock stalls the one pooled connection; the next request times out acquiring."""
    url = small_pool_api.url
    async with httpx.AsyncClient(timeout=10) as client:
        before = await scrape(client, url)
        async with cities_locked(database_url_of_api) as lock:
            stuck = asyncio.create_task(client.get(f"{url}/api/cities/1"))  # takes the connection, waits on the lock
            during = await _scrape_until(client, url, lambda s: value(s, "cityscale_db_pool_in_use") == 1)
            assert value(during, "cityscale_http_requests_in_flight") >= 2  # the stuck read and this scrape
            waiter = asyncio.create_task(client.get(f"{url}/api/cities/2"))
            during = await _scrape_until(client, url, lambda s: value(s, "cityscale_db_pool_waiting") == 1)
            assert value(during, "cityscale_db_pool_idle") == 0
            assert (await waiter).status_code == 503  # gave up after DB_ACQUIRE_TIMEOUT
            assert (await stuck).status_code == 503  # cancelled by the statement timeout
            await lock.release()
            after = await scrape(client, url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - baseline(before, name, **labels)

    assert moved("cityscale_db_pool_acquire_timeouts_total", pool="primary", role="primary") == 1
    assert moved("cityscale_db_query_errors_total", pool="primary", error_class="statement_timeout") == 1
    assert moved("cityscale_http_request_duration_seconds_count", route=ITEM, status_class="5xx") == 2
    # Nothing leaked: the connection came back.
    assert value(after, "cityscale_db_pool_in_use") == 0
    assert value(after, "cityscale_db_pool_waiting") == 0


async def _scrape_until(client: httpx.AsyncClient, url: str, condition, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        samples = await scrape(client, url)
        if condition(samples):
            return samples
        assert asyncio.get_running_loop().time() < deadline, "metric never reached the expected value"
        await asyncio.sleep(0.02)


@pytest.fixture
def database_url_of_api(api_env: dict[str, str]) -> str:
    return api_env["DATABASE_URL"]
