"""host layer: docker shadowed by an alias, a function or a PATH wrapper; client pointed elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityscale.doctor.checks.host.shell_resolve import shell_resolve
from cityscale.doctor.context import Context
from cityscale.doctor.report import Status
from tests.doctor.worlds import DEBIAN_BASHRC, PATH, World

INCIDENT_ALIAS = "alias docker='echo \"docker: command disabled\" >&2; false'\n"


def test_clean_shell_files_have_no_shadow(world: World) -> None:
    finding = world.check("host.shell-alias")
    assert finding.status is Status.OK
    assert "no alias or function named docker" in finding.outcome.summary


def test_alias_in_bashrc_is_found_with_line_and_fix(world: World) -> None:
    world.write("/root/.bashrc", world.read("/root/.bashrc") + INCIDENT_ALIAS)
    finding = world.check("host.shell-alias")
    assert finding.status is Status.FAIL
    line = len(world.read("/root/.bashrc").splitlines())
    assert any(e.startswith(f"/root/.bashrc:{line}: alias:") for e in finding.outcome.evidence)
    assert f"sed -i '{line}s/^/# /' /root/.bashrc" in finding.outcome.remediation
    (edit,) = finding.outcome.edits
    assert edit.after.splitlines()[line - 1].startswith("# disabled by cityscale doctor")
    assert edit.after.count("\n") == edit.before.count("\n")


def test_alias_in_a_sourced_file_is_followed(world: World) -> None:
    world.write("/root/.bash_aliases", "alias ll='ls -alF'\nalias docker=podman\n")
    finding = world.check("host.shell-alias")
    assert finding.status is Status.FAIL
    assert any(e.startswith("/root/.bash_aliases:2: alias:") for e in finding.outcome.evidence)


def test_commented_or_other_aliases_are_not_reported(world: World) -> None:
    world.write("/root/.bash_aliases", "# alias docker=podman\nalias dockerx=podman\nalias d='docker'\n")
    assert world.check("host.shell-alias").status is Status.OK


def test_zsh_function_is_found_but_not_auto_fixed(world: World) -> None:
    world.write("/home/alice/.zshrc", "docker() {\n  echo nope\n}\n")
    finding = world.check("host.shell-alias")
    assert finding.status is Status.FAIL
    assert any(e.startswith("/home/alice/.zshrc:1: function:") for e in finding.outcome.evidence)
    assert "remove the function docker at /home/alice/.zshrc:1" in finding.outcome.remediation
    assert finding.outcome.edits == ()


def test_fish_alias_and_autoloaded_function(world: World) -> None:
    world.write("/home/alice/.config/fish/config.fish", "alias docker 'echo no'\n")
    world.write("/home/alice/.config/fish/functions/docker.fish", "function docker\nend\n")
    evidence = world.check("host.shell-alias").outcome.evidence
    assert any(e.startswith("/home/alice/.config/fish/config.fish:1: alias") for e in evidence)
    assert any(e.startswith("/home/alice/.config/fish/functions/docker.fish:1: function") for e in evidence)


def test_path_wrapper_before_the_real_client(world: World) -> None:
    wrapper = world.write("/usr/local/bin/docker", "#!/bin/sh\necho 'docker is disabled' >&2\nexit 1\n")
    wrapper.chmod(0o755)
    finding = world.check("host.path-wrapper")
    assert finding.status is Status.FAIL
    assert finding.outcome.evidence == ("/usr/local/bin/docker: script", "/usr/bin/docker: binary")
    assert "mv /usr/local/bin/docker /usr/local/bin/docker.disabled" in finding.outcome.remediation


def test_path_with_the_real_client_first(world: World) -> None:
    finding = world.check("host.path-wrapper")
    assert finding.status is Status.OK
    assert "/usr/bin/docker" in finding.outcome.summary


def test_no_docker_on_path_is_a_skip_with_reason(world: World) -> None:
    (world.root / "usr/bin/docker").unlink()
    finding = world.check("host.path-wrapper")
    assert finding.status is Status.SKIP
    assert "no docker client on PATH" in finding.outcome.summary


@pytest.mark.parametrize(
    ("variable", "value"), [("DOCKER_HOST", "tcp://10.0.0.5:2375"), ("DOCKER_CONTEXT", "remote-prod")]
)
def test_docker_env_pointing_elsewhere(world: World, variable: str, value: str) -> None:
    world.environ[variable] = value
    finding = world.check("host.docker-env")
    assert finding.status is Status.WARN
    assert f"{variable}={value} (environment)" in finding.outcome.evidence
    assert "unset DOCKER_HOST DOCKER_CONTEXT" in finding.outcome.remediation


def test_docker_context_in_client_config(world: World) -> None:
    world.write("/home/alice/.docker/config.json", '{"currentContext": "staging"}')
    assert world.check("host.docker-env").status is Status.WARN
    world.environ["DOCKER_HOST"] = "unix:///var/run/docker.sock"
    world.write("/home/alice/.docker/config.json", '{"currentContext": "default"}')
    assert world.check("host.docker-env").status is Status.OK


def test_interactive_shell_runs_the_alias(tmp_path: Path) -> None:
    """The real bash, interactive, with a home whose .bashrc defines the incident's alias."""
    import shutil

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(DEBIAN_BASHRC + INCIDENT_ALIAS)
    ctx = Context(root=Path("/"), environ={"HOME": str(home), "PATH": PATH, "SHELL": bash})
    outcome = shell_resolve(ctx)
    assert outcome.status is Status.FAIL
    assert outcome.summary == "an interactive bash runs an alias for `docker`, not the docker client"
    assert "docker is aliased to" in outcome.evidence[0]
    (home / ".bashrc").write_text(DEBIAN_BASHRC)
    outcome = shell_resolve(ctx)
    assert outcome.status in {Status.OK, Status.SKIP}  # OK when a docker client is installed on this machine
    assert "alias" not in outcome.summary


def test_interactive_shell_check_skips_on_a_fixture_root(world: World) -> None:
    assert world.check("host.shell-resolve").status is Status.SKIP


def test_fix_of_an_alias_keeps_crlf_line_ends(world: World) -> None:
    from cityscale.doctor.fixer import apply_edit

    path = world.write("/root/.bash_aliases", b"alias ll='ls -l'\r\nalias docker=podman\r\n")
    (edit,) = world.check("host.shell-alias").outcome.edits
    apply_edit(edit)
    assert path.read_bytes() == (
        b"alias ll='ls -l'\r\n# disabled by cityscale doctor (it shadowed the docker command): alias docker=podman\r\n"
    )
    assert world.check("host.shell-alias").status is Status.OK


@pytest.mark.parametrize(
    "line",
    [
        "[ -f ~/.docker_aliases ] && . ~/.docker_aliases\n",
        "if [ -f ~/.docker_aliases ]; then source ~/.docker_aliases; fi\n",
        "test -r ~/.docker_aliases || true; . ~/.docker_aliases\n",
    ],
)
def test_alias_in_a_file_sourced_on_a_one_line_condition(world: World, line: str) -> None:
    world.write("/root/.bashrc", world.read("/root/.bashrc") + line)
    world.write("/root/.docker_aliases", INCIDENT_ALIAS)
    finding = world.check("host.shell-alias")
    assert finding.status is Status.FAIL
    assert any(e.startswith("/root/.docker_aliases:1: alias:") for e in finding.outcome.evidence)
    assert "sed -i '1s/^/# /' /root/.docker_aliases" in finding.outcome.remediation


def test_a_later_unalias_undoes_the_alias(world: World) -> None:
    """`unalias docker` after the alias (here in a sourced file, later in the chain) leaves the real docker."""
    world.write("/root/.bash_aliases", "alias docker=podman\n")
    world.write("/root/.bashrc", world.read("/root/.bashrc") + "unalias docker 2>/dev/null\n")
    assert world.check("host.shell-alias").status is Status.OK
    world.write("/root/.bashrc", world.read("/root/.bashrc") + "alias docker='echo no'\n")
    finding = world.check("host.shell-alias")  # defined again after the unalias
    assert finding.status is Status.FAIL
    assert [e.split(": ")[0] for e in finding.outcome.evidence] == [
        f"/root/.bashrc:{len(world.read('/root/.bashrc').splitlines())}"
    ]


def test_unalias_does_not_undo_a_function(world: World) -> None:
    world.write("/root/.bashrc", world.read("/root/.bashrc") + "docker() { echo no; }\nunalias docker\n")
    assert world.check("host.shell-alias").status is Status.FAIL
