"""Shared pieces of the commands (a module starting without `command`, so not a command itself)."""

from __future__ import annotations

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
