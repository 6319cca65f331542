"""What a run saw: an HDR latency histogram (microseconds), status codes, errors by kind, bytes.

`Stats` merges (`merge`) and travels between processes as a plain dict (`to_wire`/`from_wire`), so
several generator processes can add up to one report with exact percentiles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

# 1 µs to 10 min at 3 significant digits: a percentile is off by at most 0.1 % of its value.
LOWEST_US = 1
HIGHEST_US = 600_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass
class Stats:
    latency: HdrHistogram = field(default_factory=new_histogram)  # from scheduled (open) or actual (closed) send
    dispatch_lag: HdrHistogram = field(default_factory=new_histogram)  # generator: due -> on the socket
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)  # one message per kind, to say what happened
    bytes_received: int = 0
    waited_for_connection: int = 0  # requests that found every connection busy (the pool's cap was reached)

    def record_response(self, latency_s: float, status: int, size: int) -> None:
        self.latency.record_value(min(max(int(latency_s * 1e6), LOWEST_US), HIGHEST_US))
        self.statuses[status] += 1
        self.bytes_received += size

    def record_error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_samples.setdefault(kind, detail)

    def record_lag(self, lag_s: float) -> None:
        self.dispatch_lag.record_value(min(max(int(lag_s * 1e6), LOWEST_US), HIGHEST_US))

    @property
    def responses(self) -> int:
        return sum(self.statuses.values())

    @property
    def failures(self) -> int:
        """Requests that failed the service's promise: no response, or a 5xx."""
        return sum(self.errors.values()) + sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def attempts(self) -> int:
        return self.responses + sum(self.errors.values())

    def latency_ms(self) -> dict[str, float]:
        """p50/p90/p99/p99.9/max and mean in milliseconds (zeros when nothing was measured)."""
        h = self.latency
        if h.get_total_count() == 0:
            return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "p99.9": 0.0, "max": 0.0, "mean": 0.0}
        values = {f"p{p:g}": h.get_value_at_percentile(p) / 1000 for p in PERCENTILES}
        values["max"] = h.get_max_value() / 1000
        values["mean"] = h.get_mean_value() / 1000
        return values

    def merge(self, other: Stats) -> None:
        self.latency.add(other.latency)
        self.dispatch_lag.add(other.dispatch_lag)
        self.statuses.update(other.statuses)
        self.errors.update(other.errors)
        for kind, detail in other.error_samples.items():
            self.error_samples.setdefault(kind, detail)
        self.bytes_received += other.bytes_received
        self.waited_for_connection += other.waited_for_connection

    def to_wire(self) -> dict[str, Any]:
        return {
            "latency": self.latency.encode().decode(),
            "dispatch_lag": self.dispatch_lag.encode().decode(),
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "error_samples": self.error_samples,
            "bytes_received": self.bytes_received,
            "waited_for_connection": self.waited_for_connection,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Stats:
        stats = cls()
        stats.latency.decode_and_add(data["latency"].encode())
        stats.dispatch_lag.decode_and_add(data["dispatch_lag"].encode())
        stats.statuses.update({int(k): v for k, v in data["statuses"].items()})
        stats.errors.update(data["errors"])
        stats.error_samples.update(data["error_samples"])
        stats.bytes_received = data["bytes_received"]
        stats.waited_for_connection = data["waited_for_connection"]
        return stats
