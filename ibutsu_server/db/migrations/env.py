"""Alembic's environment for Ibutsu Server.

- The URL and the metadata come from the app factory: the current Flask app
  when there is one, else ``ibutsu_server.create_app()``.
- A connection passed in ``config.attributes["connection"]`` is used as it is,
  so code can migrate in-process on a connection it controls; anything
  else passed there (an engine, or pytest-alembic's wrapper of one
  connection) lends one through ``connect()``.
- Each revision runs in its own transaction. Run as its own command, Alembic
  takes the migration lock first, so it never races a booting app.
- Logging is configured from alembic.ini only when Alembic runs as its own
  command, and even then loggers that already exist keep working.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from flask import Flask, current_app, has_app_context
from sqlalchemy.engine import Connection

import ibutsu_server.db.models  # noqa: F401  (registers the tables on db.metadata)
from ibutsu_server.db import db
from ibutsu_server.db.autogenerate import COMPARE_OPTIONS
from flask_migration_guard.alembic_env import run_on
from flask_migration_guard.lock import migration_lock
from flask_migration_guard.settings import DEFAULT_LOCK_TIMEOUT, LOCK_TIMEOUT, read_seconds
from ibutsu_server.guard_names import GUARD_NAMES

config = context.config
given_connection = config.attributes.get("connection")

if config.config_file_name and given_connection is None and not has_app_context():
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _app() -> Flask:
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
    from ibutsu_server import create_app

    return create_app(guard=False)


def run_migrations_offline() -> None:
    """Write the SQL to standard output instead of running it."""
    app = _app()
    context.configure(
        url=app.config["SQLALCHEMY_DATABASE_URI"],
        target_metadata=db.metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
        **COMPARE_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    run_on(context, connection, db.metadata, **COMPARE_OPTIONS)


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on the app's engine."""
    if isinstance(given_connection, Connection):
        _run_on(given_connection)
        return
    if given_connection is not None:  # an engine, or something that lends a connection
        with given_connection.connect() as connection:
            _run_on(connection)
        return
    app = _app()
    with app.app_context():
        lock_timeout = read_seconds(app, GUARD_NAMES, LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT)
        with migration_lock(db.engine, lock_timeout, GUARD_NAMES) as held:
            if held.connection is not None:  # PostgreSQL: migrate in the session holding it
                _run_on(held.connection)
                return
            with db.engine.connect() as connection:
                _run_on(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
