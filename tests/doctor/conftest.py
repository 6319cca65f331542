"""Fixtures for the doctor's tests: a clean fixture root per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doctor.worlds import World, clean_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return clean_world(tmp_path / "root")
