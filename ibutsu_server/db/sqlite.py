"""Make SQLite transactions real, DDL included.

Python's sqlite3 module opens transactions only before data changes and runs
DDL outside them, so a failing migration would leave half its tables behind.
With these hooks SQLAlchemy issues ``BEGIN`` itself: a revision's DDL and data
commit or roll back together, and SAVEPOINTs work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def _disable_implicit_transactions(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_explicitly(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def make_transactional(engine: Engine) -> None:
    """Install the hooks on a SQLite engine; other engines are left alone."""
    if engine.dialect.name != "sqlite":
        return
    if event.contains(engine, "connect", _disable_implicit_transactions):
        return
    event.listen(engine, "connect", _disable_implicit_transactions)
    event.listen(engine, "begin", _begin_explicitly)
