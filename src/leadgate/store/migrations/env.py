"""Alembic environment: the connection comes from leadgate (config.attributes['connection'])."""

from __future__ import annotations

from alembic import context

from leadgate.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
