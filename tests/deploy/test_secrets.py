"""No secret literal in the repository. The deployment kit is held to the strictest rule: every
password, token and key there is a reference (`${VAR}`, `${{ secrets.X }}`, `$(VAR)`, a Secret, an
environment lookup) or an obvious placeholder in .env.example. Every other tracked file may hold no
credential-shaped string (private keys, cloud/GitHub/Docker Hub/Grafana/Slack tokens) and no quoted
literal assigned to a secret-named variable, except the listed test tokens. The detectors are
checked against planted literals (built at run time, so this file holds none), so they can fail."""

from __future__ import annotations

import re
import subprocess
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


# Built here, not written out, so that the repo-wide scan does not find the detector's own examples.
PLANTED = [
    "POSTGRES_PASSWORD: hunter2",
    "API_TOKEN=0123456789abcdef",
    "password = " + '"s3cret"',
    "token: gh" + "p_" + "abcdefghijklmnopqrstuvwxyz0123456789",
    "-----BEGIN OPENSSH " + "PRIVATE KEY-----",
]


@pytest.mark.parametrize("planted", PLANTED)
def test_detector_finds_planted_literals(planted: str) -> None:
    assert literal_secrets(planted) != []


# --- every tracked file ----------------------------------------------------------------------------

# A quoted literal assigned to a secret-named variable or key, in code as in config.
QUOTED_SECRET = re.compile(
    r"""(?i)(?<![\w.-])([\w.-]*(?:password|passwd|secret|token|api_key|apikey)[\w.-]*)["']?\s*[:=]\s*[rbf]?(["'])([^"'\n]*)\2"""
)
# Names that hold the name of a secret, not a secret: env var names, headers, cookies, file paths.
NAMES_A_SECRET = re.compile(r"(?i)(_env|_header|_cookie|_file|_path|_name|_url|_ttl|_lifetime)$")
# Under tests/, a value that says what it is (`test-token`, `glc_test-only-...`, `wrong-password`) is a
# fixture for servers the test starts itself on 127.0.0.1, not a credential.
TEST_VALUE = re.compile(r"(?i)test|example|fake|dummy|wrong|placeholder|unused")
# Test literals that do not say so, each for a reason; nothing else may appear here.
ALLOWED_TEST_LITERALS = {
    "tests/doctor/test_cli.py": {"k9Vq2-real-token-4f1e"},  # doctor must accept a non-placeholder token
    "tests/stack/test_instance_env.py": {"p@ss/w:rd%"},  # URL quoting of a password with @ / : %
    "tests/test_settings.py": {"p@ss:w/rd%"},  # the same, for the settings
}
# File names that are credentials by nature; never tracked.
SECRET_FILES = re.compile(r"(^|/)(\.env|id_(rsa|dsa|ecdsa|ed25519)|.*\.(pem|key|p12|pfx|keystore))$")


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True, timeout=30)
    return [name for name in result.stdout.split("\0") if name]


def code_secrets(text: str, *, test_file: bool = False) -> list[str]:
    # Credential shapes are never allowed, not even in tests (TEST_VALUE does not apply to them).
    found = [match.group(0) for match in TOKEN_SHAPES.finditer(text)]
    for match in QUOTED_SECRET.finditer(text):
        name, _, value = match.groups()
        if not value or NAMES_A_SECRET.search(name) or re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
            continue  # empty, or the name of a variable/header/file, or an env var name as the value
        if value.startswith(("$", "replace-with-")) or "${" in value or value == "...":
            continue  # a reference or a placeholder
        if test_file and TEST_VALUE.search(value):
            continue
        found.append(match.group(0))
    return found


def test_no_secret_literal_in_any_tracked_file() -> None:
    files = tracked_files()
    assert len(files) > 100, "git ls-files found too little: the scan would be vacuous"
    offenders: dict[str, list[str]] = {}
    for name in files:
        try:
            text = (REPO / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary, or deleted in the work tree
        allowed = ALLOWED_TEST_LITERALS.get(name, set())
        hits = code_secrets(text, test_file=name.startswith("tests/"))
        found = [hit for hit in hits if not any(literal in hit for literal in allowed)]
        if found:
            offenders[name] = found
    assert offenders == {}


def test_no_credential_file_is_tracked() -> None:
    assert [name for name in tracked_files() if SECRET_FILES.search(name)] == []


@pytest.mark.parametrize(
    "planted",
    [
        *PLANTED[2:],
        "API_TOKEN = " + '"k3y-abcdef012345"',
        "{'DB_PASS" + "WORD': 'hunter2'}",
        "AKIA" + "ABCDEFGHIJKLMNOP",
    ],
)
def test_repo_scan_finds_planted_literals(planted: str) -> None:
    assert code_secrets(planted) != []


@pytest.mark.parametrize(
    "harmless",
    ['TOKEN_HEADER = "X-Cityscale-LSN"', 'PASSWORD_FILE_ENV = "GRAFANA_CLOUD_API_KEY_FILE"', 'password = ""'],
)
def test_repo_scan_ignores_names_of_secrets(harmless: str) -> None:
    assert code_secrets(harmless) == []


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


def test_test_values_pass_only_in_tests_and_never_as_a_credential_shape() -> None:
    fixture = "API_TOKEN = " + '"serve-test-token"'
    assert code_secrets(fixture, test_file=True) == []
    assert code_secrets(fixture) != [], "outside tests/ a test-looking value is still a literal"
    assert code_secrets("gh" + "p_" + "test" + "a" * 36, test_file=True) != []
    assert code_secrets("API_TOKEN = " + '"k3y-abcdef012345"', test_file=True) != []
