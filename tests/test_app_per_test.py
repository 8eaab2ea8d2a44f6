"""A test suite that boots a new app for every test, as Ibutsu Server's does, with the guard on.

Two ways, both documented in the README: an app on ``sqlite:///:memory:`` (the
guard migrates the throwaway database itself), or an app on the ``ibutsu_db``
plugin's fresh migrated database (the guard checks it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from flask import Flask

from ibutsu_server import MIGRATIONS_DIR, create_app
from ibutsu_server.db import db
from ibutsu_server.db.legacy import detect_legacy
from ibutsu_server.db.models import Project, Token, User
from flask_migration_guard import MigrationGuard, StateName
from flask_migration_guard.appstate import app_guard
from flask_migration_guard.errors import NotUpToDateError


def _log_in_a_user(app: Flask) -> str:
    """What Ibutsu's ``flask_app`` fixture does after building the app: a user and a token."""
    with app.app_context():
        user = User(name="Test", email="test@example.com", is_active=True, is_superadmin=True)
        db.session.add(user)
        db.session.commit()
        token = Token(name="login-token", user=user, token="jwt", expires=datetime(2030, 1, 1))
        db.session.add(token)
        db.session.commit()
        db.session.refresh(user)
        return str(user.id)


@pytest.fixture()
def memory_app() -> Iterator[Flask]:
    """A new app on a new in-memory database, as Ibutsu's own fixture makes one."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite:///:memory:"})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("round_", [1, 2])
def test_in_memory_app_per_test(memory_app: Flask, round_: int) -> None:
    """Each test's app migrates its own in-memory database and sees nothing of the last."""
    state = app_guard(memory_app).last_state
    assert state is not None and state.name is StateName.AT_HEAD
    assert app_guard(memory_app).settings.mode == "upgrade"
    user_id = _log_in_a_user(memory_app)
    with memory_app.app_context():
        assert User.query.count() == 1
        db.session.add(Project(name=f"round {round_}", owner_id=user_id))
        db.session.commit()
        assert [p.name for p in Project.query.all()] == [f"round {round_}"]
    response = memory_app.test_client().get("/api/health/database")
    assert response.status_code == 200
    assert response.get_json()["state"] == "at_head"


def test_in_memory_check_mode_when_asked() -> None:
    """An explicit IBUTSU_DB_MIGRATE still wins: check mode refuses the empty database."""
    with pytest.raises(NotUpToDateError):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "IBUTSU_DB_MIGRATE": "check"})


@pytest.fixture()
def plugin_app(ibutsu_db_url: str) -> Iterator[Flask]:
    """A new app per test on the plugin's fresh migrated database, in check mode."""
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": ibutsu_db_url, "IBUTSU_DB_MIGRATE": "check"}
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("round_", [1, 2])
def test_plugin_database_per_test(plugin_app: Flask, round_: int) -> None:
    """Each test's app finds a fresh database at head, empty of the last test's rows."""
    state = app_guard(plugin_app).last_state
    assert state is not None and state.name is StateName.AT_HEAD
    _log_in_a_user(plugin_app)
    with plugin_app.app_context():
        assert User.query.count() == 1
        assert Project.query.count() == 0
        db.session.add(Project(name=f"round {round_}"))
        db.session.commit()


def test_a_factory_of_its_own_with_the_guard_after_init_app() -> None:
    """An app factory like Ibutsu Server's (db.init_app, then the guard, in its default
    check mode) on an in-memory database: the guard migrates it, since no one else can."""
    app = Flask("server_like")
    app.config.update(SQLALCHEMY_DATABASE_URI="sqlite:///:memory:", TESTING=True)
    db.init_app(app)
    MigrationGuard(app, directory=MIGRATIONS_DIR, legacy_detector=detect_legacy)
    try:
        state = app_guard(app).last_state
        assert state is not None and state.name is StateName.AT_HEAD
        _log_in_a_user(app)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
