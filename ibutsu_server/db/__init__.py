"""Ibutsu's data layer: the Flask-SQLAlchemy object :data:`db` (see :mod:`.base`)."""

from __future__ import annotations

from ibutsu_server.db.base import db

__all__ = ["db"]
