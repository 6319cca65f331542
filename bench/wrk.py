"""Running wrk and reading its report (shared by the benchmarks in this folder)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    url: str,
    *,
    duration: int,
    connections: int,
    threads: int = 2,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    output = subprocess.run(
        [*argv, url], capture_output=True, text=True, check=True, timeout=duration + 60, env=env
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", output)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    assert rate, output
    assert p50, output
    assert p99, output
    return WrkResult(
        float(rate.group(1)),
        _seconds(p50.group(1)) * 1000,
        _seconds(p99.group(1)) * 1000,
        int(non_2xx.group(1)) if non_2xx else 0,
    )
