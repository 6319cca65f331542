"""What the current user's interactive shell really runs for `docker` (the dynamic twin of host.shell-alias).

Starts the user's shell as an interactive one (`-i`, so its start-up files run exactly as in a terminal),
stdin from /dev/null, a minimal environment (no BASH_ENV) and a 5 s limit, and asks it `type -t docker`.
This sees aliases that the static scan cannot (built with eval or variables). Only on the running system.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip

QUERIES = {
    "bash": "type -t docker; type docker",
    "zsh": "whence -w docker; whence -v docker",
    "fish": "type -t docker; type docker",
}
SHADOWS = frozenset({"alias", "function"})


@check("host.shell-resolve", Layer.HOST, "the interactive shell runs the real docker", rank=15)
def shell_resolve(ctx: Context) -> Outcome:  # noqa: PLR0911 - one return per reason it cannot run
    if not ctx.live:
        return skip("starts the current user's shell, so only on the running system (--root given)")
    shell = ctx.environ.get("SHELL") or "/bin/bash"
    name = PurePosixPath(shell).name
    query = QUERIES.get(name)
    if query is None:
        return skip(f"unsupported login shell {shell} (bash, zsh and fish are checked)")
    env = {key: ctx.environ[key] for key in ("HOME", "PATH", "USER", "LOGNAME", "ZDOTDIR") if key in ctx.environ}
    env["TERM"] = "dumb"
    result = ctx.run([shell, "-ic", query], env=env)
    if result is None:
        return skip(f"{shell} is not installed")
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode == -1:
        return skip(f"{shell} -i did not finish: {result.stderr}")
    if not lines:
        return skip(f"`docker` is not found by an interactive {name} (Docker is not installed here)")
    kind = lines[0].split(":")[-1].strip()  # zsh prints `docker: alias`
    description = lines[1] if len(lines) > 1 else lines[0]
    if kind in SHADOWS:
        return fail(
            f"an interactive {name} runs {'an' if kind == 'alias' else 'a'} {kind} for `docker`, not the docker client",
            f"{shell} -ic '{query}' -> {description}",
            remediation="unalias docker 2>/dev/null; unset -f docker   # in open shells; remove the definition: "
            "see host.shell-alias for the file and line (bypass now: command docker ...)",
        )
    return ok(f"an interactive {name} runs: {description}")
