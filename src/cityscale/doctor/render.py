"""The report as a readable table (colour only on a terminal: `click.echo` strips it otherwise) or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cityscale.doctor.report import Report, Status

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "bright_black"}


def table(report: Report) -> str:
    width = max((len(f.id) for f in report.findings), default=10)
    lines = []
    for finding in report.findings:
        label = click.style(
            f"{finding.status.upper():<4}", fg=_COLOURS[finding.status], bold=finding.status is Status.FAIL
        )
        lines.append(f"{label}  {finding.id:<{width}}  {finding.outcome.summary}")
        if finding.status in {Status.WARN, Status.FAIL}:
            lines.extend(f"{'':6}{'':{width}}  | {line}" for line in finding.outcome.evidence)
            if finding.outcome.remediation:
                for i, line in enumerate(finding.outcome.remediation.splitlines()):
                    lines.append(f"{'':6}{'':{width}}  {'fix: ' if i == 0 else '     '}{line}")
            if finding.outcome.edits:
                lines.append(f"{'':6}{'':{width}}  (`cityscale doctor --fix` can apply this)")
    counts = ", ".join(f"{report.count(s)} {s}" for s in Status)
    lines.append("")
    lines.append(f"{len(report.findings)} checks: {counts}")
    return "\n".join(lines)


def as_json(report: Report, root: Path) -> str:
    return json.dumps(report.to_json(root), indent=2)
