"""`daemon.json` checks (incident fault 2): syntax, unknown keys, keys dockerd ignores, clashes with unit flags.

They replicate dockerd's own validation (research/doctor.md B2): a bad key makes dockerd exit at start
with `unable to configure the Docker daemon with file ...`, while a running daemon keeps its old
configuration on reload, so the mistake stays hidden until the next restart.
"""

from __future__ import annotations

import re
import shlex

from cityscale.doctor.checks.docker.daemon_config import DaemonJson, daemon_json_files, versions_to_check
from cityscale.doctor.context import Context
from cityscale.doctor.daemon_keys import PLURAL_OF, KeyStatus, effective_keys, key_table
from cityscale.doctor.registry import check
from cityscale.doctor.report import FileEdit, Layer, Outcome, fail, ok, skip, warn

VALIDATE = "dockerd --validate --config-file {path}"


@check("docker.daemon-json-syntax", Layer.DOCKER, "daemon.json parses", rank=10)
def daemon_json_syntax(ctx: Context) -> Outcome:
    files = daemon_json_files(ctx)
    if not files:
        return ok("no daemon.json: dockerd runs with its defaults")
    broken = [f for f in files if f.error]
    notes = [
        f"{f.shown}: starts with a byte-order mark (dockerd accepts it; jq and other tools may not)"
        for f in files
        if f.has_bom
    ]
    if not broken:
        return ok(f"{', '.join(f.shown for f in files)}: valid JSON object", *notes)
    first = broken[0]
    return fail(
        f"{first.shown} is not valid JSON: dockerd will refuse to start",
        *(f"{f.shown}: {f.error}" for f in broken),
        *notes,
        remediation=f"python3 -m json.tool {first.shown}   # shows the error's place; fix it, then: "
        f"{VALIDATE.format(path=first.shown)}",
    )


@check("docker.daemon-json-keys", Layer.DOCKER, "daemon.json keys exist in this Engine", rank=11)
def daemon_json_keys(ctx: Context) -> Outcome:
    files = [f for f in daemon_json_files(ctx) if f.data is not None]
    if not files:
        return skip("no parseable daemon.json to check") if daemon_json_files(ctx) else ok("no daemon.json")
    versions, basis = versions_to_check(ctx)
    table = key_table()
    failures, warnings, edits = [], [], []
    for f in files:
        assert f.data is not None  # noqa: S101 - filtered above
        renames: dict[str, str] = {}
        for key, parent in effective_keys(f.data, versions[-1]):
            statuses = {v: table.status(key, v) for v in versions}
            where = f"{f.shown}: key {key!r}" + (f" (flattened out of {parent!r})" if parent else "")
            suggestion = table.suggest(key, versions[-1])
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            if all(s is KeyStatus.REJECTED for s in statuses.values()):
                failures.append(f"{where} is unknown to dockerd{hint}")
                if suggestion and parent is None and suggestion not in f.data:
                    renames[key] = suggestion
            elif any(s is KeyStatus.REJECTED for s in statuses.values()):
                valid_in = [v for v, s in statuses.items() if s is not KeyStatus.REJECTED]
                warnings.append(f"{where} exists only in Engine {', '.join(valid_in)}{hint}")
            elif any(s is KeyStatus.REMOVED for s in statuses.values()) and f.data.get(key):
                failures.append(f"{where} was removed: any non-empty value fails validation")
        edit = _rename_keys(f, renames)
        if edit is not None:
            edits.append(edit)
    evidence = [*failures, *warnings, basis]
    shown = files[0].shown
    if failures:
        return fail(
            f"dockerd rejects {len(failures)} key(s): it exits with "
            '"the following directives don\'t match any configuration option"',
            *evidence,
            remediation=_rename_remediation(edits, shown)
            + f"{VALIDATE.format(path=shown)} && systemctl restart docker",
            edits=tuple(edits),
        )
    if warnings:
        return warn("some keys depend on the Engine version", *evidence, remediation=f"{VALIDATE.format(path=shown)}")
    return ok("every key is known to dockerd", basis)


@check("docker.daemon-json-ignored", Layer.DOCKER, "daemon.json has no keys dockerd ignores", rank=12)
def daemon_json_ignored(ctx: Context) -> Outcome:
    files = [f for f in daemon_json_files(ctx) if f.data is not None]
    if not files:
        return ok("no parseable daemon.json")
    versions, _ = versions_to_check(ctx)
    table = key_table()
    traps, ignored = [], []
    for f in files:
        assert f.data is not None  # noqa: S101
        if f.data.get("validate") is True:
            traps.append(
                f"{f.shown}: \"validate\": true makes dockerd print 'configuration OK' and exit instead of serving"
            )
        for key, parent in effective_keys(f.data, versions[-1]):
            if key == "validate":
                continue
            if parent is not None and table.status(key, versions[-1]) is KeyStatus.VALID:
                ignored.append(
                    f"{f.shown}: {key!r} nested inside {parent!r} passes validation but is never applied; move "
                    f"it to the top level"
                )
            elif all(table.status(key, v) is KeyStatus.IGNORED for v in versions):
                better = PLURAL_OF.get(key)
                use = f"; use {better!r}" if better else ""
                if key in {"http-proxy", "https-proxy", "no-proxy"}:
                    use = '; put it inside "proxies": {...}'
                ignored.append(f"{f.shown}: {key!r} passes validation but its value is silently ignored{use}")
    if traps:
        return fail(
            "dockerd will exit right after starting",
            *traps,
            *ignored,
            remediation=f'remove the "validate" key from {files[0].shown}, then: systemctl restart docker',
        )
    if ignored:
        return warn(
            f"{len(ignored)} setting(s) have no effect",
            *ignored,
            remediation=f"edit {files[0].shown} as shown, then: systemctl restart docker",
        )
    return ok("no key is silently ignored")


UNIT_FILES = (
    "/etc/systemd/system/docker.service",
    "/lib/systemd/system/docker.service",
    "/usr/lib/systemd/system/docker.service",
)
DROP_IN_DIRS = ("/etc/systemd/system/docker.service.d", "/run/systemd/system/docker.service.d")
SHORT_FLAGS = {"-H": "hosts", "-D": "debug", "-G": "group", "-g": "data-root", "-p": "pidfile", "-l": "log-level"}


@check("docker.daemon-json-conflicts", Layer.DOCKER, "daemon.json does not repeat the unit's dockerd flags", rank=13)
def daemon_json_conflicts(ctx: Context) -> Outcome:
    files = [f for f in daemon_json_files(ctx) if f.data is not None and f.shown.startswith("/etc/")]
    exec_start, unit = _exec_start(ctx)
    if exec_start is None:
        return skip("no docker.service unit found (flags unknown)")
    flags = _flag_keys(exec_start)
    clashes: list[str] = []
    for f in files:
        assert f.data is not None  # noqa: S101
        clashes.extend(
            f"{f.shown}: {key!r} is also given as a flag in {unit}: ExecStart={exec_start}"
            for key in f.data
            if key in flags
        )
        if "host-gateway-ip" in f.data and "host-gateway-ips" in f.data:
            clashes.append(f"{f.shown}: host-gateway-ip and host-gateway-ips must not both be specified")
    if not clashes:
        return ok(f"no daemon.json key repeats a flag of {unit}", f"ExecStart={exec_start}")
    return fail(
        "dockerd refuses to start: "
        '"the following directives are specified both as a flag and in the configuration file"',
        *clashes,
        remediation="remove those keys from daemon.json, or override ExecStart in a drop-in: "
        "systemctl edit docker  (ExecStart= then ExecStart=/usr/bin/dockerd)",
    )


def _exec_start(ctx: Context) -> tuple[str | None, str]:
    command, unit = None, ""
    for name in UNIT_FILES:
        text = ctx.read_text(name)
        if text is not None:
            command, unit = _last_exec_start(text, None), name
            break
    for directory in DROP_IN_DIRS:
        for drop_in in sorted(ctx.path(directory).glob("*.conf")):
            text = drop_in.read_text(encoding="utf-8", errors="replace")
            if "ExecStart" in text:
                command, unit = _last_exec_start(text, command), ctx.display(drop_in)
    return command, unit


def _last_exec_start(text: str, current: str | None) -> str | None:
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() == "ExecStart":
            current = value.strip() or None  # an empty ExecStart= resets the list
    return current


def _flag_keys(command: str) -> set[str]:
    keys = set()
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for word in words[1:]:
        if word in SHORT_FLAGS:
            keys.add(SHORT_FLAGS[word])
        elif word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            keys.add(PLURAL_OF.get(name, name))
    return keys


def _rename_keys(f: DaemonJson, renames: dict[str, str]) -> FileEdit | None:
    text = f.text
    for old, new in renames.items():
        pattern = re.compile(rf'"{re.escape(old)}"(\s*:)')
        if len(pattern.findall(text)) != 1:
            return None  # ambiguous (the name also appears elsewhere): leave it to a person
        text = pattern.sub(f'"{new}"\\1', text)
    if not renames:
        return None
    # the fixer compares against the decoded file; a BOM stays because the encoding writes it back
    description = ", ".join(f"rename {old!r} to {new!r}" for old, new in renames.items())
    return FileEdit(f.path, f.text, text, f"{description} in {f.shown}", f.encoding)


def _rename_remediation(edits: list[FileEdit], shown: str) -> str:
    """Exact `sed` commands for the renames (also what `--fix` does), else a pointer to the keys."""
    if not edits:
        return f"edit {shown}: remove or correct the keys above\n"
    lines = []
    for edit in edits:
        for old, new in re.findall(r"rename '([^']+)' to '([^']+)'", edit.description):
            lines.append(f'sed -i \'s/"{old}"/"{new}"/\' {shown}   # or: cityscale doctor --fix')
    return "\n".join(lines) + "\n"
