"""Alembic environment: runs on the connection that `cityscale migrate` opened and locked."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection: Connection = context.config.attributes["connection"]
# One transaction per migration: a failure leaves the schema at the last migration that succeeded.
context.configure(connection=connection, transaction_per_migration=True, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
