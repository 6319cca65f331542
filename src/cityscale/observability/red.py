"""RED statistics of HTTP requests: where the middleware records, and how /metrics exports them.

One process per instance (the default): `InProcessRed` keeps plain integers, with no lock, because
each granian worker runs its app on one event-loop thread, and /metrics is answered on that same
thread. It costs about half of prometheus_client's Histogram + Gauge on the hot path (measured in
docs/observability.md). Several workers (`PROMETHEUS_MULTIPROC_DIR` set by `cityscale serve`):
`MultiprocessRed` uses prometheus_client's histogram and gauge, whose values live in files that
/metrics sums over workers.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from cityscale.observability.metrics import LATENCY_BUCKETS
from cityscale.observability.multiprocess import MULTIPROC_ENV

DURATION_NAME = "cityscale_http_request_duration_seconds"
DURATION_HELP = (
    "Time from receiving a request to finishing its response, by route template, method and status class. "
    'Its _count is the request rate; status_class="5xx" the errors.'
)
DURATION_LABELS = ("route", "method", "status_class")
IN_FLIGHT_NAME = "cityscale_http_requests_in_flight"
IN_FLIGHT_HELP = "Requests being served right now."

Key = tuple[str, str, str]  # route template, method, status class


class RedRecorder(Protocol):
    def started(self) -> None: ...

    def finished(self, key: Key, seconds: float) -> None: ...


class _Series:
    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0


class InProcessRed(Collector):
    """Lock-free RED counters for one event-loop thread, exported at scrape time."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._series: dict[Key, _Series] = {}

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, key: Key, seconds: float) -> None:
        self.in_flight -= 1
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le is inclusive, as Prometheus's
        series.total += seconds

    def collect(self) -> Iterable[Metric]:
        duration = HistogramMetricFamily(DURATION_NAME, DURATION_HELP, labels=DURATION_LABELS)
        bounds = [*(repr(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
        for key, series in list(self._series.items()):
            cumulative, running = [], 0
            for bound, count in zip(bounds, series.buckets, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            duration.add_metric(list(key), cumulative, series.total)
        yield duration
        yield GaugeMetricFamily(IN_FLIGHT_NAME, IN_FLIGHT_HELP, value=self.in_flight)


_multiprocess_metrics: tuple[Histogram, Gauge] | None = None


class MultiprocessRed(Collector):
    """prometheus_client's histogram and gauge, summed over worker processes by /metrics.

    As a collector it yields nothing: /metrics reads these values from every worker's files.
    """

    def __init__(self) -> None:
        global _multiprocess_metrics  # noqa: PLW0603 - prometheus_client metrics are process-wide by design
        if _multiprocess_metrics is None:
            _multiprocess_metrics = (
                Histogram(DURATION_NAME, DURATION_HELP, DURATION_LABELS, buckets=LATENCY_BUCKETS),
                Gauge(IN_FLIGHT_NAME, IN_FLIGHT_HELP, multiprocess_mode="livesum"),
            )
        self._duration, self._in_flight = _multiprocess_metrics
        self._children: dict[Key, Histogram] = {}

    def started(self) -> None:
        self._in_flight.inc()

    def finished(self, key: Key, seconds: float) -> None:
        self._in_flight.dec()
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._duration.labels(*key)
        child.observe(seconds)

    def collect(self) -> Iterable[Metric]:
        return []


def red_recorder() -> InProcessRed | MultiprocessRed:
    """The recorder for this process: multiprocess when `cityscale serve --workers N` set it up."""
    return MultiprocessRed() if os.environ.get(MULTIPROC_ENV) else InProcessRed()
