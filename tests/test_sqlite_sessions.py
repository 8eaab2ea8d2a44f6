"""Ordinary app sessions on SQLite hold no lock after reading; migrations stay transactional.

Only the connection that migrates begins its transactions explicitly (see
flask_migration_guard.sqlite); test_guard_failures and test_env prove that a
failing revision still leaves the database at the last good revision.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from ibutsu_server import create_app
from ibutsu_server.db import db
from ibutsu_server.db.models import Project
from flask_migration_guard.sqlite import in_memory

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


@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("sqlite://", True),
        ("sqlite:///:memory:", True),
        ("sqlite:///file:shared?mode=memory&cache=shared&uri=true", True),
        ("sqlite:////var/lib/ibutsu/memory.db", False),
        ("sqlite:////var/lib/ibutsu/ibutsu.db", False),
        ("postgresql://u@h/memory", False),
    ],
)
def test_what_counts_as_in_memory(url: str, private: bool) -> None:
    """Only a database in memory is upgraded by default and migrated without a file lock;
    a file whose name says 'memory' is a file like any other."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    assert in_memory(engine) is private
