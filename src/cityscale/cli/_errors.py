"""Failures that are the user's situation, not our bug: they print one line, never a traceback."""

from __future__ import annotations


def expected_errors() -> tuple[type[BaseException], ...]:
    from cityscale.settings import ConfigError
    from cityscale.stack.binaries import MissingBinaryError
    from cityscale.stack.postgres import PostgresError
    from cityscale.store.errors import DatabaseUnavailableError, SchemaNotReadyError

    return (ConfigError, MissingBinaryError, PostgresError, DatabaseUnavailableError, SchemaNotReadyError)
