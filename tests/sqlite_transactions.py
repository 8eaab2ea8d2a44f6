"""For test engines that build databases: every SQLite transaction real, DDL included.

The guard does this only on the connection that migrates
(:mod:`flask_migration_guard.sqlite`); test helpers that write whole schemas in
one transaction want it on every connection of their engine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def _no_implicit_transactions(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def make_transactional(engine: Engine) -> None:
    """Make every transaction of a SQLite ``engine`` begin with ``BEGIN``; others are left alone."""
    if engine.dialect.name != "sqlite":
        return
    event.listen(engine, "connect", _no_implicit_transactions)
    event.listen(engine, "begin", _begin)
