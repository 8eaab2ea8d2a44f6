"""Real transactions on SQLite for the connection that migrates, DDL included.

Python's sqlite3 module begins a transaction only before a data change and
runs DDL outside of one, so a failing revision would leave half its tables
behind. Inside :func:`transactional_ddl` the connection's transactions begin
with an explicit ``BEGIN``: a revision's DDL and data commit or roll back
together, and SAVEPOINTs work. Only that connection changes: the app's own
sessions keep sqlite3's behaviour, where a session that has only read holds
no lock that would stop another connection's commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)


def in_memory(engine: Engine) -> bool:
    """Whether ``engine``'s database is SQLite in memory, private to this process: no other
    process can migrate it or wait for it."""
    url = engine.url
    if engine.dialect.name != "sqlite":
        return False
    if not url.database or url.database == ":memory:":
        return True
    return url.database.startswith("file:") and url.query.get("mode") == "memory"


def _begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


@contextmanager
def transactional_ddl(connection: Connection) -> Iterator[Connection]:
    """Within the block, ``connection`` begins every transaction with ``BEGIN``.

    Left as they are: other dialects; a connection whose sqlite3
    ``isolation_level`` is already ``None`` (its owner manages transactions);
    one already inside a transaction. sqlite3's own behaviour comes back when
    the block ends.
    """
    if connection.dialect.name != "sqlite":
        yield connection
        return
    driver_connection: Any = connection.connection.driver_connection
    if driver_connection.isolation_level is None:
        yield connection
        return
    if connection.in_transaction():
        log.debug("The connection is already in a transaction: its DDL stays non-transactional")
        yield connection
        return
    previous = driver_connection.isolation_level
    driver_connection.isolation_level = None
    event.listen(connection, "begin", _begin)
    try:
        yield connection
    finally:
        event.remove(connection, "begin", _begin)
        if not connection.invalidated and not connection.closed:
            driver_connection.isolation_level = previous
