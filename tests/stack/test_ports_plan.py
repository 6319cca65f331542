"""The port plan: every taken port found before anything binds, its holder named, or replaced on request."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import psutil
import pytest

from cityscale.stack.ports import free_port
from cityscale.stack.topology import PortConflictError, plan_ports


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_names_its_holder(taken_port: int) -> None:
    me = psutil.Process()
    with pytest.raises(PortConflictError) as caught:
        plan_ports({"nginx": taken_port, "redis": None}, auto_ports=False)
    message = str(caught.value)
    assert f"nginx: port {taken_port} is taken by {me.name()} (pid {os.getpid()}" in message
    assert "--auto-ports" in message


def test_every_conflict_is_reported_at_once(taken_port: int) -> None:
    wanted = free_port()
    with pytest.raises(PortConflictError) as caught:
        plan_ports({"nginx": taken_port, "api-1": wanted, "api-2": wanted}, auto_ports=False)
    assert f"nginx: port {taken_port} is taken" in str(caught.value)
    assert f"api-2: port {wanted} is also planned for api-1" in str(caught.value)


def test_auto_ports_replaces_taken_and_duplicate_ports(taken_port: int) -> None:
    wanted = free_port()
    plan = plan_ports({"nginx": taken_port, "api-1": wanted, "api-2": wanted, "redis": None}, auto_ports=True)
    assert plan["api-1"] == wanted
    assert plan["nginx"] != taken_port
    assert len(set(plan.values())) == 4


def test_free_ports_are_kept() -> None:
    wanted = free_port()
    assert plan_ports({"nginx": wanted}, auto_ports=False) == {"nginx": wanted}
