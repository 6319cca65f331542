"""What the RED middleware costs per request (docs/observability.md), measured in-process.

Usage: uv run python bench/metrics_overhead.py [--calls 100000] [--rounds 3]

Calls a minimal ASGI app directly (no server, no network) bare, wrapped in MetricsMiddleware with the
single-process recorder, and wrapped with the multiprocess recorder (prometheus_client's Histogram +
Gauge; without PROMETHEUS_MULTIPROC_DIR set, so before its mmap writes). Prints microseconds per call,
the added cost, and the ratio to the bare app, all measured in the same run (best of `--rounds`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from cityscale.observability.middleware import MetricsMiddleware
from cityscale.observability.red import InProcessRed, MultiprocessRed


class _Route:
    path = "/api/cities/{id}"


ROUTE = _Route()


async def bare_app(scope: dict[str, Any], _receive: Any, send: Any) -> None:
    scope["route"] = ROUTE  # what Starlette's router does when it matches
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request"}


async def _send(_message: dict[str, Any]) -> None:
    return None


async def per_call_us(app: Any, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await app({"type": "http", "method": "GET", "path": "/api/cities/1"}, _receive, _send)
    return (time.perf_counter() - started) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    apps = {
        "bare": bare_app,
        "in-process recorder": MetricsMiddleware(bare_app, recorder=InProcessRed()),
        "prometheus_client recorder": MetricsMiddleware(bare_app, recorder=MultiprocessRed()),
    }
    for app in apps.values():  # warm-up: label children, caches
        await per_call_us(app, calls // 10)
    best = {name: min([await per_call_us(app, calls) for _ in range(rounds)]) for name, app in apps.items()}
    reference = best["bare"]
    for name, us in best.items():
        print(f"{name:<28} {us:6.2f} us/call  +{us - reference:5.2f} us  ({us / reference:4.1f}x bare)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(max(1000, min(args.calls, 2_000_000)), max(1, min(args.rounds, 10))))
