"""`cityscale doctor`: find what is wrong with a deployment and say how to fix it (docs/doctor.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cityscale.cli import CliError

if TYPE_CHECKING:
    from cityscale.doctor.context import Context
    from cityscale.doctor.report import Report


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the table.")
@click.option("--fix", is_flag=True, help="Apply the safe fixes (shown as a diff first; a backup is kept).")
@click.option("--yes", is_flag=True, help="Apply --fix without asking (required when stdin is not a terminal).")
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    default=Path("/"),
    show_default=True,
    help="Check the filesystem under DIR (a mounted disk, a fixture) instead of /.",
)
@click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    help="Directory with compose.yaml and .env [default: the current directory, or --root when given].",
)
@click.option("--only", multiple=True, metavar="ID|LAYER", help="Run only these checks or layers (repeatable).")
@click.option(
    "--skip", "skip_ids", multiple=True, metavar="ID|LAYER", help="Leave out these checks or layers (repeatable)."
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    type=click.IntRange(1, 65535),
    help="Probe this port instead of the stack's defaults (3000, 8080, 80, 5432, 6379); repeatable.",
)
@click.option(
    "--instances",
    type=click.IntRange(1, 10_000),
    help="API instances sharing the database [default: compose replicas, or 1].",
)
@click.option("--list", "list_checks", is_flag=True, help="List the checks (id, layer, title) and exit.")
def command(  # noqa: PLR0917 - click passes every option by keyword-compatible position
    as_json: bool,
    fix: bool,
    yes: bool,
    root: Path,
    project: Path | None,
    only: tuple[str, ...],
    skip_ids: tuple[str, ...],
    ports: tuple[int, ...],
    instances: int | None,
    list_checks: bool,
) -> None:
    """Diagnose the host, Docker, network, configuration, database and cache; print each finding with its fix.

    \b
    Layers: host, docker, network, config, database, cache, stack (`--list` names every check).
    Exit status: 0 all ok, 1 warnings only, 2 any failure.
    Examples:
      cityscale doctor                      # everything, as a table
      cityscale doctor --only database      # one layer
      cityscale doctor --json | jq '.checks[] | select(.status != "ok")'
      sudo cityscale doctor --fix           # apply safe fixes (daemon.json key typos, shadowing aliases)
    """
    from cityscale.doctor import render
    from cityscale.doctor.context import Context
    from cityscale.doctor.registry import SelectionError, all_checks
    from cityscale.doctor.runner import run_checks

    if list_checks:
        for known in all_checks():
            click.echo(f"{known.id:<30} {known.layer:<9} {known.title}")
        return
    ctx = Context(
        root=root.resolve(), project=project.resolve() if project else None, ports=ports or None, instances=instances
    )
    try:
        report = run_checks(ctx, only, skip_ids)
    except SelectionError as exc:
        raise CliError(str(exc)) from None
    click.echo(render.as_json(report, ctx.root) if as_json else render.table(report))
    if fix:
        _apply_fixes(report, ctx, yes)
    sys.exit(report.exit_code)


def _apply_fixes(report: Report, ctx: Context, yes: bool) -> None:
    """Show each safe edit as a diff, then apply it with a backup (all on stderr: stdout may be JSON)."""
    from cityscale.doctor.fixer import FixError, apply_edit, unified_diff

    edits = [(f.id, e) for f in report.findings for e in f.outcome.edits]
    if not edits:
        click.echo("\nnothing to fix automatically (the remediation lines say what to do by hand)", err=True)
        return
    interactive = sys.stdin.isatty()
    if not yes and not interactive:
        click.echo(
            f"\n{len(edits)} fix(es) available; not applied: --yes is required when stdin is not a terminal", err=True
        )
        for check_id, edit in edits:
            click.echo(f"[{check_id}] {edit.description}\n{unified_diff(edit, ctx.display(edit.path))}", err=True)
        return
    for check_id, edit in edits:
        click.echo(f"\n[{check_id}] {edit.description}\n{unified_diff(edit, ctx.display(edit.path))}", err=True)
        if not yes and not click.confirm("apply this change?", default=False, err=True):
            click.echo("skipped", err=True)
            continue
        try:
            backup = apply_edit(edit)
        except FixError as exc:
            click.echo(f"not applied: {exc}", err=True)
            continue
        click.echo(f"applied; the original is in {backup}", err=True)
    click.echo("run `cityscale doctor` again to confirm", err=True)
