"""Ibutsu Server's database layer: the app factory, models, migrations and startup guard."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.logging import default_handler

from ibutsu_server.config import (
    DATABASE_URI_KEY,
    ENGINE_OPTIONS_KEY,
    check_database_url,
    engine_options,
    resolve_database_url,
    with_installed_driver,
)
from ibutsu_server.db.base import db as _db
from ibutsu_server.db.util import add_superadmin

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from flask_migration_guard import LegacyFinding

__all__ = ["MIGRATIONS_DIR", "create_app"]

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "db", "migrations")
GUARD_LOGGER = "flask_migration_guard"
SUPERADMIN_PREFIX = "IBUTSU_SUPERADMIN_"
SUPERADMIN_KEYS = frozenset({"email", "name", "password", "own_project"})


def create_app(config: Mapping[str, Any] | None = None, *, guard: bool = True) -> Flask:
    """Create the Ibutsu Flask app, bound to its database.

    The startup guard then checks, waits for or upgrades the database as
    ``IBUTSU_DB_MIGRATE`` says: ``upgrade`` by default on the embedded SQLite
    database and on a SQLite database in memory (no other process can reach
    it), ``check`` on any other. When ``IBUTSU_SUPERADMIN_EMAIL``
    is set (with ``_PASSWORD``, and optionally ``_NAME`` and ``_OWN_PROJECT``),
    in the config or the environment, that superadmin is made sure of next
    (see :func:`ibutsu_server.db.util.add_superadmin`).

    :param config: settings that take precedence over the environment; see
        :mod:`ibutsu_server.config` for how the database URL is chosen and
        :mod:`flask_migration_guard.settings` for the guard's keys.
    :param guard: run the startup guard and the superadmin step; Alembic's own
        env.py turns them off.
    :raises flask_migration_guard.errors.GuardConfigError: when the database URL or a
        superadmin key is unusable.
    :raises flask_migration_guard.errors.GuardError: when the guard refuses the database.
    """
    from flask_migration_guard import MigrationGuard

    from ibutsu_server.guard_names import GUARD_NAMES
    from ibutsu_server.health import health

    app = Flask(__name__, static_folder=None)  # an API: no static files to serve
    guard_logger = logging.getLogger(GUARD_LOGGER)
    for logger in (app.logger, guard_logger):
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    if not guard_logger.hasHandlers():  # the guard's lines go where the app's do
        guard_logger.addHandler(default_handler)
    settings = dict(config or {})
    url, embedded = resolve_database_url(settings, os.environ, app.instance_path)
    check_database_url(url)
    url = with_installed_driver(url)
    app.config.from_mapping(settings)
    app.config[DATABASE_URI_KEY] = url
    app.config[ENGINE_OPTIONS_KEY] = engine_options(url, app.config.get(ENGINE_OPTIONS_KEY))
    if embedded:
        os.makedirs(app.instance_path, exist_ok=True)

    _db.init_app(app)

    app.register_blueprint(health)
    if not guard:
        return app
    superadmin = _superadmin_settings(app.config)
    MigrationGuard(
        app,
        directory=MIGRATIONS_DIR,
        legacy_detector=_detect_legacy,
        default_mode="upgrade" if embedded else "check",
        names=GUARD_NAMES,
    )
    if superadmin:
        with app.app_context():
            add_superadmin(**superadmin)
    return app


def _detect_legacy(connection: Connection, tables: Sequence[str]) -> LegacyFinding | None:
    """:func:`ibutsu_server.db.legacy.detect_legacy`, imported when a database without
    ``alembic_version`` needs it, not at every boot."""
    from ibutsu_server.db.legacy import detect_legacy

    return detect_legacy(connection, tables)


def _superadmin_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """``IBUTSU_SUPERADMIN_*`` from the environment, then the config, as keyword arguments.

    :raises GuardConfigError: for an unknown key, or keys without an email.
    """
    from flask_migration_guard.errors import GuardConfigError

    settings = {
        name[len(SUPERADMIN_PREFIX):].lower(): value
        for source in (os.environ, config)
        for name, value in source.items()
        if name.startswith(SUPERADMIN_PREFIX) and value not in (None, "")
    }
    for key in sorted(set(settings) - SUPERADMIN_KEYS):
        allowed = ", ".join(SUPERADMIN_PREFIX + known.upper() for known in sorted(SUPERADMIN_KEYS))
        raise GuardConfigError(
            f"{SUPERADMIN_PREFIX}*", SUPERADMIN_PREFIX + key.upper(), f"one of {allowed}"
        )
    if settings and "email" not in settings:
        raise GuardConfigError(
            f"{SUPERADMIN_PREFIX}EMAIL", None, f"set when other {SUPERADMIN_PREFIX}* settings are"
        )
    return settings
