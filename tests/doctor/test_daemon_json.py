"""docker layer, daemon.json: each class of mistake dockerd makes fatal or silently ignores."""

from __future__ import annotations

import json

import pytest

from cityscale.doctor.fixer import apply_edit
from cityscale.doctor.report import Status
from tests.doctor.worlds import World

DAEMON_JSON = "/etc/docker/daemon.json"


def test_clean_daemon_json_passes_every_check(world: World) -> None:
    report = world.run(only=["docker"])
    statuses = {f.id: f.status for f in report.findings}
    assert statuses["docker.daemon-json-syntax"] is Status.OK
    assert statuses["docker.daemon-json-keys"] is Status.OK
    assert statuses["docker.daemon-json-ignored"] is Status.OK
    assert statuses["docker.daemon-json-conflicts"] is Status.OK


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{\n  "debug": true,\n}\n', "line 3 column 1"),  # trailing comma
        ('{"debug": true}\n{"iptables": false}\n', "line 2 column 1"),  # two objects
        ("{'debug': true}", "line 1 column 2"),  # single quotes
    ],
)
def test_syntax_errors_fail_with_position(world: World, text: str, where: str) -> None:
    world.write(DAEMON_JSON, text)
    finding = world.check("docker.daemon-json-syntax")
    assert finding.status is Status.FAIL
    assert where in finding.outcome.evidence[0]
    assert "python3 -m json.tool /etc/docker/daemon.json" in finding.outcome.remediation


def test_top_level_must_be_an_object(world: World) -> None:
    world.write(DAEMON_JSON, '["debug"]')
    finding = world.check("docker.daemon-json-syntax")
    assert finding.status is Status.FAIL
    assert "not an object" in finding.outcome.evidence[0]


def test_empty_file_is_an_empty_config_like_dockerd(world: World) -> None:
    world.write(DAEMON_JSON, "  \n")
    assert world.check("docker.daemon-json-syntax").status is Status.OK


@pytest.mark.parametrize(("bom", "encoding"), [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le")])
def test_byte_order_mark_is_accepted_as_dockerd_does(world: World, bom: bytes, encoding: str) -> None:
    world.write(DAEMON_JSON, bom + '{"debug": true}'.encode(encoding))
    finding = world.check("docker.daemon-json-syntax")
    assert finding.status is Status.OK
    assert any("byte-order mark" in e for e in finding.outcome.evidence)
    assert world.check("docker.daemon-json-keys").status is Status.OK


def test_incident_key_userns_remap_to_fails_with_suggestion_and_fix(world: World) -> None:
    world.write(DAEMON_JSON, '{\n  "userns-remap-to": "default",\n  "debug": true\n}\n')
    finding = world.check("docker.daemon-json-keys")
    assert finding.status is Status.FAIL
    assert "/etc/docker/daemon.json: key 'userns-remap-to' is unknown to dockerd; did you mean 'userns-remap'?" in (
        finding.outcome.evidence
    )
    assert """sed -i 's/"userns-remap-to"/"userns-remap"/' /etc/docker/daemon.json""" in finding.outcome.remediation
    (edit,) = finding.outcome.edits
    assert json.loads(edit.after) == {"userns-remap": "default", "debug": True}


def test_fix_keeps_the_byte_order_mark_and_writes_a_backup(world: World) -> None:
    path = world.write(DAEMON_JSON, b"\xef\xbb\xbf" + b'{"live_restore": true}')
    (edit,) = world.check("docker.daemon-json-keys").outcome.edits
    backup = apply_edit(edit)
    assert path.read_bytes() == b'\xef\xbb\xbf{"live-restore": true}'
    assert (world.root / backup).read_bytes() == b'\xef\xbb\xbf{"live_restore": true}'
    assert world.check("docker.daemon-json-keys").status is Status.OK


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"Debug": True}, "did you mean 'debug'?"),  # case matters to dockerd
        ({"D": True}, "key 'D' is unknown"),  # shorthand flags are not keys
        (
            {"containerd-plugin-namespace": "x"},
            "key 'containerd-plugin-namespace' is unknown",
        ),  # has a JSON tag, still rejected
        ({"log-opt": {"max-size": "1m"}}, "key 'max-size' (flattened out of 'log-opt') is unknown"),
    ],
)
def test_other_rejected_keys(world: World, config: dict[str, object], message: str) -> None:
    world.write(DAEMON_JSON, json.dumps(config))
    finding = world.check("docker.daemon-json-keys")
    assert finding.status is Status.FAIL
    assert any(message in e for e in finding.outcome.evidence)


def test_version_dependent_key_is_a_warning_when_the_engine_is_unknown(world: World) -> None:
    world.write(DAEMON_JSON, '{"firewall-backend": "nftables"}')  # Engine 29 only
    finding = world.check("docker.daemon-json-keys")
    assert finding.status is Status.WARN
    assert any("exists only in Engine 29.7.2" in e for e in finding.outcome.evidence)


def test_validate_true_makes_dockerd_exit(world: World) -> None:
    world.write(DAEMON_JSON, '{"validate": true}')
    finding = world.check("docker.daemon-json-ignored")
    assert finding.status is Status.FAIL
    assert "configuration OK" in finding.outcome.evidence[0]
    assert finding.outcome.remediation.startswith('remove the "validate" key from /etc/docker/daemon.json')


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"label": ["a=b"]}, "use 'labels'"),
        ({"http-proxy": "http://proxy:3128"}, 'inside "proxies"'),
        ({"something": {"debug": True}}, "'debug' nested inside 'something'"),
    ],
)
def test_silently_ignored_keys_warn(world: World, config: dict[str, object], message: str) -> None:
    world.write(DAEMON_JSON, json.dumps(config))
    finding = world.check("docker.daemon-json-ignored")
    assert finding.status is Status.WARN
    assert any(message in e for e in finding.outcome.evidence)
    assert finding.outcome.remediation.startswith("edit /etc/docker/daemon.json as shown")


@pytest.mark.parametrize("key", ["hosts", "containerd"])
def test_keys_that_repeat_the_units_flags_fail(world: World, key: str) -> None:
    world.write(DAEMON_JSON, json.dumps({key: ["tcp://0.0.0.0:2375"] if key == "hosts" else "/run/c.sock"}))
    finding = world.check("docker.daemon-json-conflicts")
    assert finding.status is Status.FAIL
    assert any(
        f"{key!r} is also given as a flag in /lib/systemd/system/docker.service" in e for e in finding.outcome.evidence
    )
    assert "systemctl edit docker" in finding.outcome.remediation


def test_drop_in_that_resets_exec_start_removes_the_conflict(world: World) -> None:
    world.write(DAEMON_JSON, '{"hosts": ["unix:///var/run/docker.sock"]}')
    world.write(
        "/etc/systemd/system/docker.service.d/override.conf", "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd\n"
    )
    assert world.check("docker.daemon-json-conflicts").status is Status.OK


def test_no_unit_means_the_flags_are_unknown(world: World) -> None:
    (world.root / "lib/systemd/system/docker.service").unlink()
    assert world.check("docker.daemon-json-conflicts").status is Status.SKIP


def test_dockerd_validate_skips_cleanly_without_dockerd(world: World) -> None:
    import shutil

    finding = world.check("docker.dockerd-validate")
    if shutil.which("dockerd") is None:
        assert finding.status is Status.SKIP
        assert "dockerd is not installed" in finding.outcome.summary
    else:  # pragma: no cover - only where Docker Engine is installed
        assert finding.status is Status.OK


def test_daemon_running_skips_on_a_fixture_root(world: World) -> None:
    finding = world.check("docker.daemon-running")
    assert finding.status is Status.SKIP
    assert "--root" in finding.outcome.summary


def test_daemon_running_on_the_live_system_without_dockerd_skips_with_reason() -> None:
    import shutil
    from pathlib import Path

    from cityscale.doctor.checks.docker.daemon_running import daemon_running
    from cityscale.doctor.context import Context

    outcome = daemon_running(Context(root=Path("/")))
    if shutil.which("dockerd") is None:
        assert outcome.status is Status.SKIP
        assert outcome.summary == "Docker Engine (dockerd) is not installed on this machine"
    else:  # pragma: no cover - only where Docker Engine is installed
        assert outcome.status in {Status.OK, Status.FAIL}
