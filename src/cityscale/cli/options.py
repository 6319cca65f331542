"""Shared pieces of the commands (a module starting without `command`, so not a command itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cityscale.cli import CliError
from cityscale.settings import Settings, load_settings


def database_url(settings: Settings | None = None) -> str:
    """The configured primary's URL, or a clear error when none is configured."""
    settings = settings or load_settings()
    if not settings.database_configured:
        raise CliError(
            "no database configured: set DATABASE_URL, or DB_HOST (with DB_PORT, DB_USER, DB_PASSWORD, DB_NAME); "
            "`cityscale serve` without them runs an embedded database"
        )
    return settings.primary_url


@contextmanager
def database_errors_explained(doing: str) -> Iterator[None]:
    """Turn "the database is down / refused us" into one line, not a traceback (migrate, seed, serve).

    `doing` completes "cannot ...", e.g. "migrate the database". The driver's messages carry no password.
    """
    import asyncpg
    from sqlalchemy.exc import DBAPIError

    from cityscale.store.pool import CONNECTION_ERRORS

    failures: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.PostgresError)
    try:
        yield
    except DBAPIError as exc:  # alembic's engine wraps the driver's error: report the driver's
        original = exc.orig if exc.orig is not None else exc
        raise CliError(f"cannot {doing}: {_describe(original)}") from None
    except failures as exc:
        raise CliError(f"cannot {doing}: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # one line, even for multi-line server messages
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
