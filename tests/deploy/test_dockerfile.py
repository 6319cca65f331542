"""The image's Dockerfile keeps its promises: slim final stage without build tools, a numeric
non-root user, a healthcheck whose program ships in the base image, an exec-form entrypoint so
SIGTERM reaches the server, and a build context that leaves secrets and virtualenvs out."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml

from tests.deploy.kit import DOCKERFILE, REPO, compose

# What each base image family is known to ship, for the healthcheck's program.
PROGRAMS_IN_BASE = {r"python:[\w.${}_-]*-slim[\w.-]*": {"python", "python3"}}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def stages() -> list[Stage]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.IGNORECASE)
            assert match is not None, line
            found.append(Stage(match.group(1), match.group(2)))
        elif found:
            found[-1].instructions.append((keyword.upper(), rest.strip()))
    return found


def final() -> Stage:
    return stages()[-1]


def values(stage: Stage, keyword: str) -> list[str]:
    return [rest for key, rest in stage.instructions if key == keyword]


def test_final_stage_is_slim_python_and_builds_nothing() -> None:
    stage = final()
    assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim-\w+", stage.base), stage.base
    assert len(stages()) >= 3, "expected a uv stage, a builder and the final stage"
    copies = values(stage, "COPY")
    # Only the finished virtualenv comes over from the builder: no uv binary, no source, no cache.
    assert copies == ["--from=builder --chown=10001:10001 /app/.venv /app/.venv"]
    for command in values(stage, "RUN"):
        assert not re.search(r"\b(apt-get|pip|uv|gcc|build-essential)\b", command), command


def test_builder_uses_uv_with_the_lockfile() -> None:
    builder = next(stage for stage in stages() if stage.name == "builder")
    syncs = [command for command in values(builder, "RUN") if "uv sync" in command]
    assert syncs
    assert all("--locked" in command and "--no-dev" in command for command in syncs)
    assert any("--mount=type=cache" in command for command in syncs)


def test_runs_as_a_numeric_non_root_user() -> None:
    users = values(final(), "USER")
    assert users, "the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid == "" or gid.isdigit()


def test_entrypoint_is_exec_form_and_serves_on_3000() -> None:
    (entrypoint,) = values(final(), "ENTRYPOINT")
    (command,) = values(final(), "CMD")
    assert json.loads(entrypoint) == ["cityscale"]
    assert json.loads(command) == ["serve", "--host", "0.0.0.0", "--port", "3000"]  # noqa: S104 (a container listens on all its interfaces)


def test_healthcheck_program_exists_in_the_base_image_and_probes_liveness() -> None:
    (healthcheck,) = values(final(), "HEALTHCHECK")
    match = re.search(r"CMD\s+(\[.*\])\s*$", healthcheck)
    assert match, "HEALTHCHECK must use the exec form"
    argv = json.loads(match.group(1))
    programs = next(progs for pattern, progs in PROGRAMS_IN_BASE.items() if re.fullmatch(pattern, final().base))
    assert argv[0] in programs, f"{argv[0]} is not in {final().base}"
    assert "curl" not in healthcheck
    assert "wget" not in healthcheck
    assert "http://127.0.0.1:3000/healthz" in argv[-1]
    # The program must at least be valid Python.
    compile(argv[-1], "<healthcheck>", "exec")
    # Compose repeats the same probe (so it holds for any image tag) with the same program.
    assert compose()["services"]["api"]["healthcheck"]["test"][1:] == argv


def test_build_context_excludes_secrets_and_local_state() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*", "the context starts from nothing and lists what the build needs"
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "NOTICE", "src/"}
    # What the builder copies must be in the context.
    builder = next(stage for stage in stages() if stage.name == "builder")
    for copy in values(builder, "COPY"):
        if copy.startswith("--from"):
            continue
        for source in copy.split()[:-1]:
            assert source in allowed or f"{source}/" in allowed, source


def test_final_stage_records_the_commit_for_build_info() -> None:
    from cityscale.observability.collector import COMMIT_ENV

    stage = final()
    args = values(stage, "ARG")
    assert f"{COMMIT_ENV}=unknown" in args, "the final stage must take the commit as a build arg"
    env = " ".join(values(stage, "ENV"))
    assert f'{COMMIT_ENV}="${{{COMMIT_ENV}}}"' in env, "the build arg must reach the running server as ENV"
    # release.yml passes the commit it builds.
    release = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    build = next(s for s in release["jobs"]["image"]["steps"] if str(s.get("uses", "")).startswith("docker/build-push"))
    assert f"{COMMIT_ENV}=${{{{ github.sha }}}}" in build["with"]["build-args"].splitlines()


def test_builder_has_a_c_toolchain_and_the_final_stage_none() -> None:
    # For dependencies without a wheel for one of the platforms (tests/deploy/test_image_wheels.py).
    builder = next(stage for stage in stages() if stage.name == "builder")
    installs = [run for run in values(builder, "RUN") if "apt-get install" in run]
    assert any("build-essential" in run and "--no-install-recommends" in run for run in installs)
    assert all("rm -rf /var/lib/apt/lists/*" in run for run in installs)
    assert not [run for run in values(final(), "RUN") if re.search(r"apt-get|build-essential|gcc", run)]
