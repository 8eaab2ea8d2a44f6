"""A ``db.session`` whose work is rolled back, for fast tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import scoped_session

from ibutsu_server.db import db
from flask_migration_guard.sqlite import transactional_ddl


@contextmanager
def rolled_back_session() -> Iterator[scoped_session[Any]]:
    """Bind ``db.session`` to one outer transaction, rolled back on exit.

    Needs an app context. Flask-SQLAlchemy picks the engine for each query
    from ``db.engines``; the default entry is pointed at the transaction's
    connection for the duration, and the session joins that transaction with
    SAVEPOINTs, so ``commit()`` in the code under test stays inside it. On
    SQLite the connection's transactions are made real for SAVEPOINTs to work.
    """
    engines: dict[Any, Any] = db.engines  # type: ignore[assignment]
    engine = engines[None]
    factory_options = db.session.session_factory.kw
    previous_mode = factory_options.get("join_transaction_mode")
    with engine.connect() as connection, transactional_ddl(connection):
        transaction = connection.begin()
        engines[None] = connection
        factory_options["join_transaction_mode"] = "create_savepoint"
        db.session.remove()
        try:
            yield db.session
        finally:
            db.session.remove()
            engines[None] = engine
            if previous_mode is None:
                factory_options.pop("join_transaction_mode", None)
            else:
                factory_options["join_transaction_mode"] = previous_mode
            if transaction.is_active:
                transaction.rollback()
