"""Read-path benchmark (issue 4): database only, Redis cache, L1 + Redis, against /healthz in the same run.

Usage: uv run python bench/read_path.py [--duration 5] [--connections 64]

One API instance (one worker) on a private PostgreSQL and Redis (the `cityscale.stack` launchers);
wrk drives random items among the 1,000 hottest ids, and the first list page. The reference is the same
instance's `/healthz` (no I/O: the framework and server ceiling). Prints req/s, p50/p99 and ratios;
writes bench/results/read_path.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support

from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.ports import free_port
from cityscale.stack.redis import RedisServer
from tests.support.servers import create_template, remove, running_primary, scratch_dir
from wrk import HERE, WrkResult, run_wrk  # type: ignore[import-not-found]

MODES = {
    "db only": {"REDIS_URL": "", "CACHE_TTL": "0"},
    "redis": {"CACHE_L1_TTL": "0"},
    "l1 + redis": {},
}
TARGETS = {"item": "/", "list": "/api/cities?limit=50"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    base = scratch_dir("bench-read")
    rows: list[dict[str, object]] = []
    try:
        with running_primary(base) as cluster:
            print("seeding ...", file=sys.stderr)
            asyncio.run(create_template(cluster))
            redis = RedisServer(base / "redis")
            redis.start()
            try:
                redis.wait_ready()
                for mode, overrides in MODES.items():
                    env = {
                        "DATABASE_URL": cluster.url("cities_template"),
                        "REDIS_URL": redis.url,
                        "LOG_LEVEL": "warning",
                        "DB_POOL_MAX": "20",
                        **overrides,
                    }
                    api = ApiInstance(mode, port=free_port(), env=env, log_path=base / f"{mode}.log")
                    api.start()
                    try:
                        api.wait_ready()
                        ping = measure(f"{api.url}/healthz", args)
                        rows.append(row(mode, "ping (reference)", ping, ping))
                        for target, path in TARGETS.items():
                            script = HERE / "random_item.lua" if target == "item" else None
                            result = measure(f"{api.url}{path}", args, script)
                            rows.append(row(mode, target, result, ping))
                    finally:
                        api.stop()
            finally:
                redis.stop()
    finally:
        remove(base)
    print("\n| mode | request | req/s | p50 ms | p99 ms | ratio to /healthz |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['request']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['ratio_to_ping']:.2f} |"
        )
    out = HERE / "results" / "read_path.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wrk": vars(args), "rows": rows}, indent=2
        )
    )
    print(f"\nwritten: {out}", file=sys.stderr)


def measure(url: str, args: argparse.Namespace, script: Path | None = None) -> WrkResult:
    env = {**os.environ, "MAX_ID": "1000"}
    run_wrk(url, duration=1, connections=args.connections, script=script, env=env)  # warm-up: fills caches
    result = run_wrk(url, duration=args.duration, connections=args.connections, script=script, env=env)
    if result.non_2xx:
        raise RuntimeError(f"{url}: {result.non_2xx} non-2xx responses")
    return result


def row(mode: str, request: str, result: WrkResult, ping: WrkResult) -> dict[str, object]:
    return {
        "mode": mode,
        "request": request,
        "rps": result.requests_per_second,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "ratio_to_ping": result.requests_per_second / ping.requests_per_second,
    }


if __name__ == "__main__":
    main()
