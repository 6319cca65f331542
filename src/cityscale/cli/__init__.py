"""The `cityscale` command line: one command per module in this package, found automatically.

Adding a command is adding a module here that defines `command` (a click command). Modules import
their heavy dependencies inside the command, so `cityscale --help` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from cityscale import __version__


class CliError(click.ClickException):
    """An expected failure, reported as one line on stderr with exit status 1."""

    def show(self, file: object = None) -> None:  # noqa: ARG002 - always stderr
        click.echo(f"cityscale: {self.format_message()}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cityscale")
def cli() -> None:
    """cityscale: the cities API and the kit that runs, diagnoses and load-tests it.

    \b
    Quick start (no database needed, one is created in ./.cityscale):
      cityscale up                 # the whole architecture on http://127.0.0.1:8080 (nginx, replicas, Redis)
      cityscale serve              # one API instance on http://127.0.0.1:3000
    Against your own PostgreSQL (DB_HOST, DB_USER, ... or DATABASE_URL):
      cityscale migrate && cityscale seed && cityscale serve
    """


def _register_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_register_commands()


def main() -> None:
    """Console-script entry point: expected failures become one line and a non-zero exit."""
    from cityscale.cli._errors import expected_errors

    try:
        # Without standalone mode click returns a command's ctx.exit(n) code instead of exiting with it.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("cityscale: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except expected_errors() as exc:
        click.echo(f"cityscale: {exc}", err=True)
        sys.exit(1)
    if isinstance(code, int) and code != 0:
        sys.exit(code)
