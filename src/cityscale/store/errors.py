"""Database failures the HTTP layer turns into 503s, each with a message an operator can act on."""

from __future__ import annotations


class DatabaseUnavailableError(RuntimeError):
    """The database could not be reached, or did not answer in time. Safe to retry later."""

    retry_after_seconds = 1


class PoolExhaustedError(DatabaseUnavailableError):
    """Every pooled connection stayed busy for the whole acquire timeout."""


class QueryTimeoutError(DatabaseUnavailableError):
    """A statement ran past the statement timeout and was cancelled."""


class SchemaNotReadyError(RuntimeError):
    """The database has no cities schema, or an older one: `cityscale migrate` has not run."""
