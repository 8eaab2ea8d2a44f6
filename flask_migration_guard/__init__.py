"""A startup migration guard for Flask apps that use Alembic.

Generic: it knows the application only through a script directory, an engine,
the names it is given (:class:`Names`) and an optional legacy-detection hook.
The public API is what this module exports, and :mod:`flask_migration_guard.errors`.
"""

from __future__ import annotations

from flask_migration_guard import errors
from flask_migration_guard.extension import MigrationGuard
from flask_migration_guard.naming import Names
from flask_migration_guard.state import DatabaseState, LegacyDetector, LegacyFinding, StateName

__all__ = [
    "DatabaseState",
    "LegacyDetector",
    "LegacyFinding",
    "MigrationGuard",
    "Names",
    "StateName",
    "errors",
]
