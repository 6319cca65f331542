"""The uncached database path against the original service's stack: Node.js Express + pg, one process.

Usage: uv run python bench/node_vs_python.py [--duration 5] [--connections 64]
Needs Node.js and `npm ci` in bench/node_reference (done here when node_modules is missing).

Same PostgreSQL, same 34,006 cities, caching off (CACHE_TTL=0, no Redis): random items by id over the
whole table and the first list page. Node runs bench/node_reference/server.js (the original Express +
pg shape with its bugs fixed); cityscale runs one instance with 1 and with 2 granian workers (a single
Node process uses one core for JavaScript, pg's parsing included). Prints req/s and the ratio of each to
Node in the same run (servers measured in turns, the median of --rounds runs each); writes
bench/results/node_vs_python.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support

from cityscale.stack.api_instance import ApiInstance
from cityscale.stack.ports import free_port
from cityscale.stack.process import ManagedProcess, wait_for_http
from tests.support.servers import create_template, remove, running_primary, scratch_dir
from wrk import HERE, run_wrk  # type: ignore[import-not-found]

NODE_DIR = HERE / "node_reference"
TARGETS = {"item (uncached)": ("/", HERE / "random_item.lua"), "list (uncached)": ("/api/cities?limit=50", None)}


def measure(base: str, target: str, args: argparse.Namespace) -> float:
    path, script = TARGETS[target]
    url = base + (path if script is None else "")
    env = {**os.environ, "MAX_ID": "34000"}
    result = run_wrk(url, duration=args.duration, connections=args.connections, script=script, env=env)
    if result.non_2xx:
        raise RuntimeError(f"{url}: {result.non_2xx} non-2xx responses")
    return result.requests_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per server and target (median)")
    args = parser.parse_args()
    if shutil.which("node") is None:
        sys.exit("node is not installed (apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True)
    base = scratch_dir("bench-node")
    samples: dict[str, dict[str, list[float]]] = {}
    try:
        with running_primary(base) as cluster, ExitStack() as servers:
            print("seeding ...", file=sys.stderr)
            asyncio.run(create_template(cluster))
            url = cluster.url("cities_template")
            port = free_port()
            node = ManagedProcess(
                "node",
                ["node", str(NODE_DIR / "server.js")],
                log_path=base / "node.log",
                env={**os.environ, "DATABASE_URL": url, "PORT": str(port), "DB_POOL_MAX": "20"},
            )
            node.start()
            servers.callback(node.stop)
            wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=20, process=node)
            bases = {"node, 1 process": f"http://127.0.0.1:{port}"}
            for workers in (1, 2):
                env = {"DATABASE_URL": url, "CACHE_TTL": "0", "LOG_LEVEL": "warning", "DB_POOL_MAX": "20"}
                api = ApiInstance(
                    "api", port=free_port(), env=env, log_path=base / f"api{workers}.log", workers=workers
                )
                api.start()
                servers.callback(api.stop)
                api.wait_ready()
                bases[f"cityscale, {workers} worker{'s' if workers > 1 else ''}"] = api.url
            # All servers stay up (idle ones cost nothing) and are measured in turns, round after round,
            # so that load from elsewhere on this shared machine falls on all of them alike.
            for label, server_url in bases.items():
                for target in TARGETS:
                    measure(server_url, target, argparse.Namespace(duration=1, connections=args.connections))
                samples[label] = {target: [] for target in TARGETS}
            for round_number in range(args.rounds):
                for target in TARGETS:
                    for label, server_url in bases.items():
                        samples[label][target].append(measure(server_url, target, args))
                print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        remove(base)
    results = {label: {t: statistics.median(v) for t, v in row.items()} for label, row in samples.items()}
    node_results = results["node, 1 process"]
    print("\n| server | " + " | ".join(f"{t} req/s | ratio to node" for t in TARGETS) + " |")
    print("|---|" + "---|---|" * len(TARGETS))
    for label, row in results.items():
        cells = " | ".join(f"{row[t]:,.0f} | {row[t] / node_results[t]:.2f}" for t in TARGETS)
        print(f"| {label} | {cells} |")
    out = HERE / "results" / "node_vs_python.json"
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
