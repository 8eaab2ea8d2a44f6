"""Alembic environment of a test scenario: migrates the connection it is handed.

SQLite's DDL is declared transactional, as the application's env.py does, so a
process killed inside a revision leaves nothing of that revision behind.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=None,
    transaction_per_migration=True,
    transactional_ddl=True if connection.dialect.name == "sqlite" else None,
    on_version_apply=config.attributes.get("on_version_apply"),
)
with context.begin_transaction():
    context.run_migrations()
