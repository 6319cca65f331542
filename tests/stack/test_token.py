"""The stack's API token: generated once, private to its owner, the same on every later run."""

from __future__ import annotations

from pathlib import Path

from cityscale.stack.supervisor import ensure_token


def test_the_token_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "api-token"
    token = ensure_token(path)
    assert len(token) >= 40  # 32 random bytes, base64url
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_token(path) == token
    assert path.read_text() == token + "\n"


def test_an_empty_token_file_gets_a_fresh_token(tmp_path: Path) -> None:
    path = tmp_path / "api-token"
    path.write_text("\n")
    token = ensure_token(path)
    assert token.strip()
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_token(tmp_path / "other") != token
