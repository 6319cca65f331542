"""The scrape helper never reads a missing series as 0 (movement tests would pass vacuously)."""

from __future__ import annotations

import pytest

from tests.observability.scrape import MissingSeries, baseline, parse, value

TEXT = """# TYPE cityscale_breaker_state gauge
cityscale_breaker_state{breaker="redis"} 0.0
cityscale_breaker_state{breaker="primary"} 2.0
"""


def test_value_sums_matching_series_and_fails_on_an_absent_one() -> None:
    samples = parse(TEXT)
    assert value(samples, "cityscale_breaker_state") == 2.0
    assert value(samples, "cityscale_breaker_state", breaker="redis") == 0.0  # present and zero is fine
    with pytest.raises(MissingSeries, match="cityscale_breaker_state"):
        value(samples, "cityscale_breaker_state", breaker="replica-1")
    with pytest.raises(MissingSeries):
        value(samples, "cityscale_cache_stale_served_total")


def test_baseline_reads_an_absent_series_as_zero() -> None:
    samples = parse(TEXT)
    assert baseline(samples, "cityscale_cache_stale_served_total") == 0.0
    assert baseline(samples, "cityscale_breaker_state", breaker="primary") == 2.0
