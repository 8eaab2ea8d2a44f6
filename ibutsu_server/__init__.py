"""Ibutsu Server's database layer: the app factory, models and migrations."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from ibutsu_server.config import DATABASE_URI_KEY, resolve_database_url
from ibutsu_server.db import db
from ibutsu_server.db import sqlite as sqlite_support

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the Ibutsu Flask app, bound to its database.

    :param config: settings that take precedence over the environment; see
        :mod:`ibutsu_server.config` for how the database URL is chosen.
    """
    app = Flask(__name__)
    settings = dict(config or {})
    url, embedded = resolve_database_url(settings, os.environ, app.instance_path)
    app.config.from_mapping(settings)
    app.config[DATABASE_URI_KEY] = url
    if embedded:
        os.makedirs(app.instance_path, exist_ok=True)

    import ibutsu_server.db.models  # noqa: F401  (registers the tables)

    db.init_app(app)
    with app.app_context():
        sqlite_support.make_transactional(db.engine)
    return app
