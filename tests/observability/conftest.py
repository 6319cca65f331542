"""Fixtures shared by the observability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cityscale.stack.postgres import PostgresCluster
from tests.observability.monitored import Monitored, monitored_stack


@pytest.fixture(scope="session")
def monitored(pg: PostgresCluster) -> Iterator[Monitored]:
    """Two instances, nginx and the installed exporters, running for the whole session (started once)."""
    with monitored_stack(pg) as stack:
        yield stack
