"""No secret literal anywhere in the deployment kit: every password, token and key is a reference
(`${VAR}`, `${{ secrets.X }}`, `$(VAR)`, a Secret, an environment lookup) or an obvious placeholder
in .env.example. The detector itself is checked against planted literals, so it can fail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.kit import REPO

KIT = [
    REPO / "Dockerfile",
    REPO / ".dockerignore",
    REPO / "compose.yaml",
    REPO / ".env.example",
    *sorted((REPO / ".github").rglob("*.yml")),
    *sorted(
        path
        for folder in ("k8s", "host", "compose", "alloy")
        for path in (REPO / "deploy" / folder).rglob("*")
        if path.is_file()
    ),
    REPO / "docs" / "deploy.md",
]

# Shapes of real credentials: private keys, cloud, GitHub, Docker Hub, Grafana Cloud and Slack tokens.
TOKEN_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|dckr_pat_[\w-]{20,}"
    r"|glc_[A-Za-z0-9+/=]{20,}|xox[abprs]-[\w-]{10,}"
)
# NAME: value or NAME=value where the name says it holds a secret.
ASSIGNMENT = re.compile(
    r"""(?i)(?<![\w{$.!-])([\w.-]*(?:password|passwd|token|secret|api_key|apikey)[\w.-]*)"""
    r"""["']?[ \t]*[:=][ \t]*([^\s#]*)"""
)
# A reference, a lookup, a placeholder, a mapping (`secretKeyRef: {name: ...}`) or a boolean flag;
# a value that embeds an expression (`ci-${{ github.run_id }}`) is computed, not committed.
REFERENCE = re.compile(r"""^(\$|sys\.env\(|replace-with-|\{|true$|false$)|\$\{""")


def literal_secrets(text: str) -> list[str]:
    found = [match.group(0) for match in TOKEN_SHAPES.finditer(text)]
    for match in ASSIGNMENT.finditer(text):
        name, value = match.groups()
        value = value.strip("\"'")
        if value and not REFERENCE.search(value) and not name.lower().startswith(("secrets.", "docker_prune")):
            found.append(match.group(0))
    return found


@pytest.mark.parametrize("path", [p for p in KIT if p.exists()], ids=lambda p: str(p.relative_to(REPO)))
def test_no_secret_literal(path: Path) -> None:
    assert literal_secrets(path.read_text()) == []


@pytest.mark.parametrize(
    "planted",
    [
        "POSTGRES_PASSWORD: hunter2",
        "API_TOKEN=0123456789abcdef",
        'password = "s3cret"',
        "token: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ],
)
def test_detector_finds_planted_literals(planted: str) -> None:
    assert literal_secrets(planted) != []


def test_env_example_holds_placeholders_only() -> None:
    for line in (REPO / ".env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if not sep or line.startswith("#"):
            continue
        if re.search(r"PASSWORD|TOKEN|API_KEY|SECRET", name):
            assert value == "" or value.startswith("replace-with-"), line


def test_env_files_are_not_committed_nor_sent_to_the_image_build() -> None:
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    assert "!.env" not in (REPO / ".dockerignore").read_text()
