"""Read-path benchmark (issue 4): database only, Redis cache, L1 + Redis, against /healthz in the same run.

Usage: uv run python bench/read_path.py [--duration 5] [--connections 64] [--generator auto|wrk|builtin]

One API instance (one worker) on a private PostgreSQL and Redis (the `cityscale.stack` launchers);
wrk (or, when wrk is not installed, the repo's own closed-loop generator, bench/closed_loop.py) drives
random items among the 1,000 hottest ids, and the first list page. The reference is the same instance's
`/healthz` (no I/O: the framework and server ceiling), measured in the same run with the same generator.
Prints req/s, p50/p99 and their ratios to the reference; writes bench/results/read_path.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support

from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.ports import free_port
from cityscale.stack.redis import RedisServer
from closed_loop import run_closed_loop  # type: ignore[import-not-found]
from tests.support.servers import create_template, remove, running_primary, scratch_dir
from wrk import HERE, WrkResult, run_wrk  # type: ignore[import-not-found]

WRK_HINT = (
    "wrk is not installed (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk); "
    "using the built-in generator, whose ceiling is lower: read the ratios, not the absolute figures"
)

MODES = {
    "db only": {"REDIS_URL": "", "CACHE_TTL": "0"},
    "redis": {"CACHE_L1_TTL": "0"},
    "l1 + redis": {},
}
TARGETS = {"item": "/", "list": "/api/cities?limit=50"}
HOT_IDS = 1000  # items are random ids in 1..HOT_IDS (bench/random_item.lua reads it as MAX_ID)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "builtin"],
        default="auto",
        help="auto: wrk when it is installed, else the built-in closed-loop generator",
    )
    args = parser.parse_args()
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    if args.generator == "wrk" and shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk)")
    if args.generator == "auto":
        args.generator = "wrk" if shutil.which("wrk") else "builtin"
        if args.generator == "builtin":
            print(WRK_HINT, file=sys.stderr)
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
    print(f"\ngenerator: {args.generator}; ratios are to the same instance's /healthz in the same run")
    print("\n| mode | request | req/s | p50 ms | p99 ms | req/s ratio | p50 ratio | p99 ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['request']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['ratio_to_ping']:.2f} | {r['p50_ratio_to_ping']:.2f} | {r['p99_ratio_to_ping']:.2f} |"
        )
    out = HERE / "results" / "read_path.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "generator": args.generator,
                "settings": vars(args),
                "reference": "the same instance's /healthz, same generator, same run",
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten: {out}", file=sys.stderr)


def measure(url: str, args: argparse.Namespace, script: Path | None = None) -> WrkResult:
    def run(duration: int) -> WrkResult:
        if args.generator == "builtin":
            max_id = HOT_IDS if script is not None else None
            return run_closed_loop(url, duration=duration, connections=args.connections, max_id=max_id)
        env = {**os.environ, "MAX_ID": str(HOT_IDS)}
        return run_wrk(url, duration=duration, connections=args.connections, script=script, env=env)

    if script is not None:
        prime(url)
    run(1)  # warm-up
    result = run(args.duration)
    if result.non_2xx:
        raise RuntimeError(f"{url}: {result.non_2xx} non-2xx responses")
    return result


def prime(base_url: str) -> None:
    """Read every hot id once, so the measured run sees the caches warm (not a second of fills)."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for city_id in range(1, HOT_IDS + 1):
            client.get(f"/api/cities/{city_id}")


def row(mode: str, request: str, result: WrkResult, ping: WrkResult) -> dict[str, object]:
    return {
        "mode": mode,
        "request": request,
        "rps": result.requests_per_second,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "ratio_to_ping": result.requests_per_second / ping.requests_per_second,
        # Latency ratios: how many times the reference's latency (above 1: slower than /healthz).
        "p50_ratio_to_ping": result.p50_ms / ping.p50_ms if ping.p50_ms else None,
        "p99_ratio_to_ping": result.p99_ms / ping.p99_ms if ping.p99_ms else None,
    }


if __name__ == "__main__":
    main()
