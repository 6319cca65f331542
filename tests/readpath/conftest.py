"""Fixtures for the read path: a fresh primary + replica + Redis + two API instances per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.topology import Topology, topology


@pytest.fixture
def topo() -> Iterator[Topology]:
    with topology() as started:
        yield started


@pytest.fixture
def short_ttl_topo() -> Iterator[Topology]:
    """Cache entries fresh for only 1 s, so a test can see them go stale."""
    with topology(CACHE_TTL="1") as started:
        yield started
