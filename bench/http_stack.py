"""HTTP server comparison for docs/adr/0001-http-stack.md: the same cityscale app on granian and uvicorn.

Usage: uv run --group bench python bench/http_stack.py [--duration 5] [--connections 64]

Starts a private PostgreSQL (the same launcher as the tests), seeds it, then for each server runs wrk
against /healthz (no I/O), one random city by id, and the first list page, one server at a time.
Prints req/s and the ratio of each server to granian in the same run (the machine is shared and noisy:
compare ratios, not absolute numbers), and writes bench/results/http_stack.json.
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

from cityscale.stack.ports import free_port
from cityscale.stack.process import ManagedProcess, wait_for_http
from tests.support.servers import create_template, remove, running_primary, scratch_dir
from wrk import run_wrk  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parent
ENDPOINTS = {"ping": "/healthz", "item": "/api/cities/1", "list": "/api/cities?limit=50"}


def server_argv(kind: str, port: int) -> list[str]:
    if kind == "granian":
        return [sys.executable, "-m", "cityscale", "serve", "--port", str(port)]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "cityscale.api.app:create_app_from_environment",
        "--port",
        str(port),
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    base = scratch_dir("bench")
    results: dict[str, dict[str, float]] = {}
    try:
        with running_primary(base) as cluster:
            print("seeding ...", file=sys.stderr)
            asyncio.run(create_template(cluster))
            env = {
                **os.environ,
                "DATABASE_URL": cluster.url("cities_template"),
                "LOG_LEVEL": "warning",
                "DB_POOL_MAX": "20",
            }
            for kind in ("granian", "uvicorn"):
                port = free_port()
                server = ManagedProcess(kind, server_argv(kind, port), log_path=base / f"{kind}.log", env=env)
                server.start()
                try:
                    wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30, process=server)
                    results[kind] = {}
                    for name, path in ENDPOINTS.items():
                        url = f"http://127.0.0.1:{port}{path if name != 'item' else ''}"
                        script = ROOT / "random_item.lua" if name == "item" else None
                        run_wrk(url, duration=1, connections=args.connections, script=script)  # warm-up
                        result = run_wrk(url, duration=args.duration, connections=args.connections, script=script)
                        if result.non_2xx:
                            raise RuntimeError(f"{kind} {name}: {result.non_2xx} non-2xx responses")
                        results[kind][name] = result.requests_per_second
                        print(f"{kind:8} {name:5} {results[kind][name]:10.0f} req/s", file=sys.stderr)
                finally:
                    server.stop()
    finally:
        remove(base)
    print("\n| endpoint | granian req/s | uvicorn req/s | granian / uvicorn |\n|---|---|---|---|")
    for name in ENDPOINTS:
        g, u = results["granian"][name], results["uvicorn"][name]
        print(f"| {name} | {g:,.0f} | {u:,.0f} | {g / u:.2f} |")
    out = ROOT / "results" / "http_stack.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wrk": vars(args), "results": results},
            indent=2,
        )
    )
    print(f"\nwritten: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
