"""For env.py files: run the migrations the way the guard hands them over.

A script directory the guard drives needs an env.py that migrates on the
connection in ``config.attributes["connection"]``, one transaction per
revision, and passes the guard's ``on_version_apply`` hook on. The smallest
such env.py is::

    from alembic import context
    from ibutsu_server.guard.alembic_env import run_on_given_connection

    run_on_given_connection(context)

An env.py with more to do (a URL of its own, offline mode) can still take
:func:`guard_options` for its ``context.configure`` call.
"""

from __future__ import annotations

from typing import Any

from alembic.config import Config
from sqlalchemy.engine import Connection

from ibutsu_server.guard.sqlite import transactional_ddl


def guard_options(config: Config, connection: Connection) -> dict[str, Any]:
    """The ``configure`` options the guard relies on.

    - ``transaction_per_migration``: a failing revision leaves the last good one;
    - ``transactional_ddl`` on SQLite: :func:`run_on` makes its DDL
      transactional, which Alembic does not assume;
    - ``on_version_apply``: the guard's per-revision log line;
    - ``dont_mutate`` for commands that only read: no version table is created.
    """
    return {
        "transaction_per_migration": True,
        "transactional_ddl": True if connection.dialect.name == "sqlite" else None,
        "on_version_apply": config.attributes.get("on_version_apply"),
        # A command that only reads (current, history, check) creates no version table.
        "dont_mutate": bool(config.attributes.get("read_only")),
    }


def run_on(
    context: Any, connection: Connection, target_metadata: Any = None, **options: Any
) -> None:
    """Run the migrations on ``connection``, with the guard's options.

    On SQLite the connection's transactions are made real for the run (see
    :mod:`ibutsu_server.guard.sqlite`).

    :param context: the ``alembic.context`` module of the env.py.
    :param options: more ``context.configure`` options.
    """
    with transactional_ddl(connection):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            **guard_options(context.config, connection),
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()


def run_on_given_connection(context: Any, target_metadata: Any = None, **options: Any) -> None:
    """Run the migrations on ``config.attributes["connection"]``; see :func:`run_on`."""
    connection = context.config.attributes["connection"]
    run_on(context, connection, target_metadata, **options)
