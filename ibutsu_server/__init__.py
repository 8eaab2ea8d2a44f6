"""Ibutsu Server's database layer: the app factory, models, migrations and startup guard."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from ibutsu_server.config import (
    DATABASE_URI_KEY,
    ENGINE_OPTIONS_KEY,
    check_database_url,
    engine_options,
    resolve_database_url,
)
from ibutsu_server.db import db
from ibutsu_server.db import sqlite as sqlite_support

__all__ = ["MIGRATIONS_DIR", "create_app"]

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "db", "migrations")


def create_app(config: Mapping[str, Any] | None = None, *, guard: bool = True) -> Flask:
    """Create the Ibutsu Flask app, bound to its database.

    The startup guard then checks, waits for or upgrades the database as
    ``IBUTSU_DB_MIGRATE`` says: ``upgrade`` by default on the embedded SQLite
    database, ``check`` on any configured one.

    :param config: settings that take precedence over the environment; see
        :mod:`ibutsu_server.config` for how the database URL is chosen and
        :mod:`ibutsu_server.guard.settings` for the guard's keys.
    :param guard: run the startup guard; Alembic's own env.py turns it off.
    :raises ibutsu_server.guard.GuardConfigError: when the database URL is unusable.
    :raises ibutsu_server.guard.GuardError: when the guard refuses the database.
    """
    app = Flask(__name__, static_folder=None)  # an API: no static files to serve
    if app.logger.level == logging.NOTSET:
        app.logger.setLevel(logging.INFO)
    settings = dict(config or {})
    url, embedded = resolve_database_url(settings, os.environ, app.instance_path)
    check_database_url(url)
    app.config.from_mapping(settings)
    app.config[DATABASE_URI_KEY] = url
    app.config[ENGINE_OPTIONS_KEY] = engine_options(url, app.config.get(ENGINE_OPTIONS_KEY))
    if embedded:
        os.makedirs(app.instance_path, exist_ok=True)

    import ibutsu_server.db.models  # noqa: F401  (registers the tables)

    db.init_app(app)
    with app.app_context():
        sqlite_support.make_transactional(db.engine)

    from ibutsu_server.db.legacy import detect_legacy
    from ibutsu_server.guard import MigrationGuard
    from ibutsu_server.health import health

    app.register_blueprint(health)
    if guard:
        MigrationGuard(
            app,
            directory=MIGRATIONS_DIR,
            legacy_detector=detect_legacy,
            default_mode="upgrade" if embedded else "check",
        )
    return app
