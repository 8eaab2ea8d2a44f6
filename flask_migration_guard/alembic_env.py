"""For env.py files: run the migrations the way the guard hands them over.

A script directory the guard drives needs an env.py that migrates on the
connection in ``config.attributes["connection"]``, one transaction per
revision, and passes the guard's ``on_version_apply`` hook on. The smallest
such env.py is::

    from alembic import context
    from flask_migration_guard.alembic_env import run_on_given_connection

    run_on_given_connection(context)

An env.py with more to do (a URL of its own, offline mode) can still take
:func:`guard_options` for its ``context.configure`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from flask_migration_guard.errors import GuardConfigError
from flask_migration_guard.naming import history_table_name
from flask_migration_guard.sqlite import transactional_ddl

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE_OPTIONS = ("version_table", "version_table_schema")


def guard_options(config: Config, connection: Connection) -> dict[str, Any]:
    """The ``configure`` options the guard relies on.

    - ``transaction_per_migration``: a failing revision leaves the last good one;
    - ``transactional_ddl`` on SQLite: :func:`run_on` makes its DDL
      transactional, which Alembic does not assume;
    - ``on_version_apply``: the guard's per-revision log line;
    - ``dont_mutate`` for commands that only read: no version table is created;
    - ``version_table`` and ``version_table_schema``: where the guard reads the revision.

    :func:`run_on` adds an ``include_name`` hook, so that the model comparison
    (``check``, autogenerate) leaves the schema history table out, as Alembic leaves
    the version table out.
    """
    options = {
        "transaction_per_migration": True,
        "transactional_ddl": True if connection.dialect.name == "sqlite" else None,
        "on_version_apply": config.attributes.get("on_version_apply"),
        # A command that only reads (current, history, check) creates no version table.
        "dont_mutate": bool(config.attributes.get("read_only")),
    }

    for name in VERSION_TABLE_OPTIONS:
        if name in config.attributes:
            options[name] = config.attributes[name]
    return options


def _leaving_out(table: str) -> Callable[..., bool]:
    """An ``include_name`` hook that leaves the table named ``table`` out."""

    def include_name(name: str | None, type_: str, _: Any) -> bool:
        return not (type_ == "table" and name == table)

    return include_name


def _both(first: Callable[..., bool], second: Callable[..., bool]) -> Callable[..., bool]:
    """A hook that includes what both ``first`` and ``second`` include."""
    return lambda *arguments: first(*arguments) and second(*arguments)


def _merged(guarded: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` over ``guarded``, refusing a version table the guard does not read, with
    the schema history table left out of the model comparison (and env.py's own
    ``include_name`` kept).

    :raises GuardConfigError: when env.py names another version table than the guard's.
    """
    for name in VERSION_TABLE_OPTIONS:
        if name in options and name in guarded and options[name] != guarded[name]:
            raise GuardConfigError(
                f"env.py's {name}",
                options[name],
                f"the guard's {name}, {guarded[name]!r}: give the guard the same in"
                f" Names({name}=...), or drop it from env.py",
            )
    merged = {**guarded, **options}
    version_table = merged.get("version_table") or "alembic_version"
    leave_out = _leaving_out(history_table_name(version_table))
    theirs = merged.get("include_name")
    merged["include_name"] = leave_out if theirs is None else _both(leave_out, theirs)
    return merged


def run_on(
    context: Any, connection: Connection, target_metadata: Any = None, **options: Any
) -> None:
    """Run the migrations on ``connection``, with the guard's options.

    On SQLite the connection's transactions are made real for the run (see
    :mod:`flask_migration_guard.sqlite`).

    :param context: the ``alembic.context`` module of the env.py.
    :param options: more ``context.configure`` options.
    """
    with transactional_ddl(connection):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            **_merged(guard_options(context.config, connection), options),
        )
        with context.begin_transaction():
            context.run_migrations()


def run_on_given_connection(context: Any, target_metadata: Any = None, **options: Any) -> None:
    """Run the migrations on ``config.attributes["connection"]``; see :func:`run_on`."""
    connection = context.config.attributes["connection"]
    run_on(context, connection, target_metadata, **options)
