"""Ordinary app sessions on SQLite hold no lock after reading; migrations stay transactional.

Only the connection that migrates begins its transactions explicitly (see
ibutsu_server.guard.sqlite); test_guard_failures and test_env prove that a
failing revision still leaves the database at the last good revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from ibutsu_server import create_app
from ibutsu_server.db import db
from ibutsu_server.db.models import Project

# A busy SQLite database would make a commit wait this long before failing.
BUSY_TIMEOUT = 0.5


def _app(url: str) -> Flask:
    options = {"connect_args": {"timeout": BUSY_TIMEOUT}} if url.startswith("sqlite") else {}
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options})


def test_a_reading_session_does_not_stop_another_commit(ibutsu_db_url: str) -> None:
    """One app context's session has read and stays open; another app context commits."""
    app = _app(ibutsu_db_url)
    try:
        with app.app_context():
            db.session.add(Project(name="first"))
            db.session.commit()
            assert [p.name for p in Project.query.all()] == ["first"]
            reader = db.session()

            with app.app_context():
                assert db.session() is not reader
                db.session.add(Project(name="second"))
                db.session.commit()
                db.session.remove()

            assert reader.scalars(sa.select(Project.name).order_by(Project.name)).all() == [
                "first", "second"
            ]
            reader.add(Project(name="third"))
            reader.commit()
        with app.app_context():
            assert Project.query.count() == 3
    finally:
        with app.app_context():
            db.engine.dispose()


def test_sessions_use_sqlite3_transactions(ibutsu_db_url: str) -> None:
    """After the guard migrated or checked, a read on SQLite opens no transaction."""
    app = _app(ibutsu_db_url)
    with app.app_context():
        try:
            Project.query.all()
            connection = db.session.connection()
            if connection.dialect.name == "sqlite":
                driver = connection.connection.driver_connection
                assert driver.isolation_level == ""
                assert not driver.in_transaction
        finally:
            db.session.remove()
            db.engine.dispose()
