"""What a check reports: status, evidence, the exact remediation, and optionally a safe file edit."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # the check could not run here; `summary` says why


class Layer(enum.StrEnum):
    HOST = "host"
    DOCKER = "docker"
    NETWORK = "network"
    CONFIG = "config"
    DATABASE = "database"
    CACHE = "cache"
    STACK = "stack"


LAYER_ORDER = tuple(Layer)


@dataclass(frozen=True)
class FileEdit:
    """A whole-file rewrite that `--fix` may apply: shown as a diff first, the original kept as a backup.

    `before` is the text the check read; the fixer refuses to write if the file changed since.
    """

    path: Path
    before: str
    after: str
    description: str
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Outcome:
    """The result of one check run; build it with `ok`, `warn`, `fail` or `skip`."""

    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    remediation: str = ""
    edits: tuple[FileEdit, ...] = ()


def ok(summary: str, *evidence: str) -> Outcome:
    return Outcome(Status.OK, summary, evidence)


def warn(summary: str, *evidence: str, remediation: str, edits: tuple[FileEdit, ...] = ()) -> Outcome:
    return Outcome(Status.WARN, summary, evidence, remediation, edits)


def fail(summary: str, *evidence: str, remediation: str, edits: tuple[FileEdit, ...] = ()) -> Outcome:
    return Outcome(Status.FAIL, summary, evidence, remediation, edits)


def skip(reason: str) -> Outcome:
    return Outcome(Status.SKIP, reason)


@dataclass(frozen=True)
class Finding:
    """One check's outcome with the check's identity (what the table and the JSON show)."""

    id: str
    layer: Layer
    title: str
    outcome: Outcome
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        return self.outcome.status

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "layer": str(self.layer),
            "title": self.title,
            "status": str(self.status),
            "summary": self.outcome.summary,
            "evidence": list(self.outcome.evidence),
            "remediation": self.outcome.remediation or None,
            "fixable": bool(self.outcome.edits),
            "seconds": round(self.seconds, 3),
        }
        if self.status is Status.SKIP:
            out["reason"] = self.outcome.summary
        return out


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for f in self.findings if f.status is status)

    @property
    def exit_code(self) -> int:
        """0 all ok (skips included), 1 warnings only, 2 any failure."""
        if self.count(Status.FAIL):
            return 2
        return 1 if self.count(Status.WARN) else 0

    def by_id(self, check_id: str) -> Finding:
        for finding in self.findings:
            if finding.id == check_id:
                return finding
        raise KeyError(check_id)

    def to_json(self, root: Path) -> dict[str, object]:
        return {
            "schemaVersion": 1,
            "root": str(root),
            "exitCode": self.exit_code,
            "summary": {str(s): self.count(s) for s in Status},
            "checks": [f.to_json() for f in self.findings],
        }
