"""A small notes app that uses the migration guard and nothing else of this project:
its own models, migrations, config prefix, command name and version table."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import Connection

from flask_migration_guard import LegacyFinding, MigrationGuard, Names

MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")
NAMES = Names(
    prefix="NOTES_DB_",
    extension_key="notes_guard",
    lock="notes.migrations",
    channel="notes_lock_released",
    command="schema",
    invocation="flask --app example_app",
    url_setting="NOTES_DATABASE_URL",
    version_table="notes_version",
)
BASELINE = "note0001"
OLD_META = "notes_meta"

db = SQLAlchemy()


class Note(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "notes"
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.Text, nullable=False)
    tags = db.relationship("Tag", back_populates="note")


class Tag(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "tags"
    id = db.Column(db.Integer, primary_key=True)
    note_id = db.Column(db.Integer, db.ForeignKey("notes.id"), nullable=False)
    name = db.Column(db.String(40), nullable=False)
    note = db.relationship("Note", back_populates="tags")


def detect_old_notes(connection: Connection, tables: Sequence[str]) -> LegacyFinding | None:
    """Notes kept before migrations: ``notes_meta.version`` 1 with a ``notes`` table is
    the baseline; an older version must be upgraded by the old release first."""
    if OLD_META not in tables:
        return None
    version = connection.execute(sa.text(f"SELECT version FROM {OLD_META}")).scalar()
    if str(version) != "1":
        return LegacyFinding(
            str(version),
            BASELINE,
            too_old=True,
            fix="Run the notes 0.9 upgrade script first, then start this version again.",
        )
    problems = () if "notes" in tables else ("the notes table is missing",)
    return LegacyFinding(str(version), BASELINE, problems=problems)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The notes app; its database URL is ``NOTES_DATABASE_URL``."""
    app = Flask(__name__)
    app.config.update(config or {})
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", os.environ.get("NOTES_DATABASE_URL"))
    db.init_app(app)
    MigrationGuard(app, directory=MIGRATIONS, legacy_detector=detect_old_notes, names=NAMES)
    return app
