"""Ibutsu's data layer: the Flask-SQLAlchemy object :data:`db` (see :mod:`.base`)."""

from __future__ import annotations

from ibutsu_server.db.base import db

__all__ = ["db"]

#: Every model's MetaData, at the top of the models' package, where tools that look
#: for the models find it (pytest-alembic's all_models_register_on_metadata).
metadata = db.metadata
