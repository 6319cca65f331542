"""A closed-loop HTTP load generator for the benchmarks when wrk is not installed.

Built on the repo's own load-test client (cityscale.loadtest.client: keep-alive connections, pre-built
request bytes, httptools parsing), so it costs little CPU per request on a machine it shares with the
server. `connections` clients each send one request, wait for the answer, send the next: like
`wrk -c`. Bounded by `duration` and by `max_requests`. One process, so its ceiling is lower than wrk's:
compare its figures only with a reference measured by it in the same run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from cityscale.loadtest.client import Connection, RequestError
from wrk import WrkResult  # type: ignore[import-not-found]

MAX_REQUESTS = 5_000_000


def _percentile_ms(sorted_seconds: list[float], q: float) -> float:
    if not sorted_seconds:
        return 0.0
    return sorted_seconds[min(len(sorted_seconds) - 1, int(q * len(sorted_seconds)))] * 1000


async def _run(url: str, duration: float, connections: int, paths: Callable[[random.Random], str]) -> WrkResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    non_2xx = 0
    errors = 0
    sent = 0
    deadline = time.monotonic() + duration

    async def client(seed: int) -> None:
        nonlocal non_2xx, errors, sent
        rng = random.Random(seed)
        conn = await Connection.open(host, port, timeout=5)
        try:
            while time.monotonic() < deadline and sent < MAX_REQUESTS:
                sent += 1
                request = f"GET {paths(rng)} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
                started = time.perf_counter()
                try:
                    response = await conn.send(request, timeout=10)
                except RequestError:
                    errors += 1
                    conn.close()
                    conn = await Connection.open(host, port, timeout=5)
                    continue
                latencies.append(time.perf_counter() - started)
                if not 200 <= response.status < 400:
                    non_2xx += 1
        finally:
            conn.close()

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return WrkResult(
        len(latencies) / elapsed, _percentile_ms(latencies, 0.5), _percentile_ms(latencies, 0.99), non_2xx + errors
    )


def run_closed_loop(url: str, *, duration: float, connections: int, max_id: int | None = None) -> WrkResult:
    """GET `url` (or, with `max_id`, random `/api/cities/<1..max_id>` on its host) from `connections`
    concurrent keep-alive clients for `duration` seconds."""
    path = urlsplit(url).path + (f"?{urlsplit(url).query}" if urlsplit(url).query else "")

    def paths(rng: random.Random) -> str:
        return f"/api/cities/{rng.randint(1, max_id)}" if max_id else path or "/"

    return asyncio.run(_run(url, duration, connections, paths))
