"""A validator that is not installed skips its test on a developer's machine but fails it under CI
(CI=true, which .ci/run exports), so a green CI run means every validator really ran."""

from __future__ import annotations

import pytest

from tests.deploy.kit import REPO, tool

ABSENT = "cityscale-no-such-validator"


def test_missing_tool_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    # BaseException, then the exact type: a skip must not pass for a failure, nor the reverse.
    with pytest.raises(BaseException, match=ABSENT) as raised:
        tool(ABSENT)
    assert raised.type is pytest.skip.Exception


def test_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(BaseException, match="CI=true") as raised:
        tool(ABSENT)
    assert raised.type is pytest.fail.Exception


def test_present_tool_is_found_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert tool("ruff").endswith("ruff")


def test_ci_entry_point_exports_ci_true() -> None:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert "export CI=true" in lines
    assert lines.index("export CI=true") < next(i for i, line in enumerate(lines) if line.startswith("exec "))
