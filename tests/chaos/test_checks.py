"""The runner's verdicts on recorded requests: each rule fails on the records that break it."""

from __future__ import annotations

from cityscale.chaos.checks import Window, load_checks, phase_stats, split
from cityscale.chaos.consistency import histories, lost_writes
from cityscale.chaos.driver import NOT_SENT, RETRIED, RequestRecord
from cityscale.chaos.scenarios import IN_FLIGHT_ALLOWANCE, by_names

WINDOW = Window(start=0.0, fault=10.0, healthy=20.0, end=30.0)


def read(due: float, status: int = 200) -> RequestRecord:
    return RequestRecord("read", "/api/cities/1", due, 0.01, status)


def write(
    due: float, status: int = 200, *, key: int = 1, value: int = 1, latency: float = 0.01, retry: str | None = None
) -> RequestRecord:
    return RequestRecord("write", f"/api/cities/{key}", due, latency, status, key=key, value=value, retry_after=retry)


def verdicts(scenario: str, records: list[RequestRecord]) -> dict[str, bool]:
    (chosen,) = by_names([scenario])
    return {check.name: check.passed for check in load_checks(chosen, split(records, WINDOW))}


def test_a_read_error_in_any_phase_fails() -> None:
    assert verdicts("redis-kill", [read(1), read(15), read(25)])["read errors"]
    assert not verdicts("redis-kill", [read(1), read(15, 502), read(25)])["read errors"]
    assert not verdicts("redis-kill", [read(25, 0)])["read errors"]  # no answer at all is an error too


def test_records_outside_the_window_are_ignored() -> None:
    assert verdicts("redis-kill", [read(-1, 502), read(31, 502)])["read errors"]


def test_primary_down_allows_only_fast_503_with_retry_after_during_the_fault() -> None:
    assert verdicts("primary-restart", [write(15, 503, retry="1")])["write errors"]
    assert not verdicts("primary-restart", [write(15, 503)])["write errors"]  # no Retry-After
    assert not verdicts("primary-restart", [write(15, 503, retry="1", latency=2.5)])["write errors"]  # a hang
    assert not verdicts("primary-restart", [write(15, 500, retry="1")])["write errors"]
    assert not verdicts("primary-restart", [write(25, 503, retry="1")])["write errors"]  # after recovery


def test_a_write_error_fails_where_writes_are_unaffected() -> None:
    assert not verdicts("replica-stop", [write(15, 503, retry="1")])["write errors"]


def test_killed_instance_allows_a_bounded_number_of_failed_writes() -> None:
    few = [write(15, 502, key=k) for k in range(3)]
    many = [write(15, 502, key=k) for k in range(IN_FLIGHT_ALLOWANCE + 1)]
    assert verdicts("api-kill", few)["write errors"]
    assert not verdicts("api-kill", many)["write errors"]
    assert not verdicts("api-kill", [write(5, 502)])["write errors"]


def test_pool_exhaustion_flags_a_write_that_hangs() -> None:
    assert verdicts("pool-exhaust", [write(15, 200, latency=4.0)])["writes never hang"]
    assert not verdicts("pool-exhaust", [write(15, 200, latency=30.0)])["writes never hang"]


def test_phase_stats_count_errors_and_keep_unsent_apart() -> None:
    stats = phase_stats([read(1), read(2, 503), write(3, 200), RequestRecord("read", "", 4, 0, NOT_SENT)])
    assert (stats.reads, stats.read_errors, stats.writes, stats.write_errors, stats.not_sent) == (2, 1, 1, 0, 1)
    assert stats.error_statuses == {"read 503": 1}


def test_a_value_older_than_the_last_acknowledged_write_is_a_lost_write() -> None:
    records = [write(1, value=10), write(2, value=11), write(3, 0, value=12)]
    history = histories(records)
    assert lost_writes({1: 11}, history) == []
    assert lost_writes({1: 12}, history) == []  # the unanswered later write may have committed
    assert lost_writes({1: 10}, history) == ["id 1: primary has 10, last acknowledged 11"]
    assert lost_writes({}, history) == ["id 1: primary has None, last acknowledged 11"]


def test_phase_stats_count_the_reads_retried_once_apart_from_errors() -> None:
    retried = RequestRecord("read", "/api/cities/1", 1.0, 0.02, 200, detail=RETRIED)
    stats = phase_stats([read(1), retried, RequestRecord("read", "", 1.0, 0.0, NOT_SENT)])
    assert (stats.reads, stats.read_errors, stats.retried, stats.not_sent) == (2, 0, 1, 1)
