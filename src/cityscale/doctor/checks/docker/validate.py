"""`dockerd --validate`: dockerd's own verdict on daemon.json, when dockerd is installed (Engine >= 23)."""

from __future__ import annotations

from cityscale.doctor.checks.docker.daemon_config import daemon_json_files
from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip


@check("docker.dockerd-validate", Layer.DOCKER, "dockerd --validate accepts daemon.json", rank=14)
def dockerd_validate(ctx: Context) -> Outcome:
    files = daemon_json_files(ctx)
    if not files:
        return skip("no daemon.json to validate")
    verdicts = []
    for f in files:
        result = ctx.run(["dockerd", "--validate", "--config-file", str(f.path)])
        if result is None:
            return skip("dockerd is not installed on this machine (the key checks above replicate its rules)")
        message = " ".join((result.stderr or result.stdout).split())
        if result.returncode != 0:
            return fail(
                f"dockerd --validate rejects {f.shown}",
                message,
                remediation=f"fix {f.shown} as the message says, then: dockerd --validate --config-file {f.shown}",
            )
        verdicts.append(f"{f.shown}: {message or 'configuration OK'}")
    return ok("dockerd --validate: configuration OK", *verdicts)
