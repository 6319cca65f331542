"""A `docker` wrapper script earlier in PATH than the real (ELF) client (incident fault 1's sibling)."""

from __future__ import annotations

from pathlib import Path

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn

ELF_MAGIC = b"\x7fELF"


@check("host.path-wrapper", Layer.HOST, "docker on PATH is the real client", rank=20)
def path_wrapper(ctx: Context) -> Outcome:
    found = ctx.which_all("docker")
    if not found:
        return skip("no docker client on PATH (Docker is not installed here)")
    kinds = [(path, _kind(path)) for path in found]
    evidence = [f"{ctx.display(path)}: {kind}" for path, kind in kinds]
    first, first_kind = kinds[0]
    if first_kind == "binary":
        return ok(f"`docker` resolves to the client binary {ctx.display(first)}", *evidence)
    binaries = [path for path, kind in kinds if kind == "binary"]
    if binaries:
        return fail(
            f"{ctx.display(first)} ({first_kind}) shadows the real client {ctx.display(binaries[0])}",
            *evidence,
            remediation=f"mv {ctx.display(first)} {ctx.display(first)}.disabled   # or remove its directory from PATH; "
            f"bypass now: {ctx.display(binaries[0])} ...",
        )
    return warn(
        f"the only `docker` on PATH is a {first_kind}, not the client binary",
        *evidence,
        remediation=f"cat {ctx.display(first)}   # check what it runs; reinstall the client: apt-get install "
        f"docker-ce-cli",
    )


def _kind(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError:
        return "unreadable"
    if head == ELF_MAGIC:
        return "binary"
    if head.startswith(b"#!"):
        return "script"
    return "unknown file"
