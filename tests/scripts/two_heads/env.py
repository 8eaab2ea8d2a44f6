"""Alembic environment of the two-heads scenario: migrates the connection it is handed."""

from __future__ import annotations

from alembic import context

config = context.config

context.configure(
    connection=config.attributes["connection"],
    target_metadata=None,
    transaction_per_migration=True,
    on_version_apply=config.attributes.get("on_version_apply"),
)
with context.begin_transaction():
    context.run_migrations()
