"""Test scripts: migrate on the connection handed over by the caller."""

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
