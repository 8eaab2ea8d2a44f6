"""A startup migration guard for Flask apps that use Alembic.

Generic: it knows the application only through a script directory, an engine
and an optional legacy-detection hook.
"""

from __future__ import annotations

from ibutsu_server.guard.actions import Runner
from ibutsu_server.guard.errors import (
    BrokenVersionTableError,
    DatabaseUnavailableError,
    GuardConfigError,
    GuardError,
    LegacyTooOldError,
    LegacyUnprovenError,
    LockTimeoutError,
    MigrationFailedError,
    MultipleHeadsError,
    NotUpToDateError,
    RefusedStateError,
    UnknownRevisionError,
    UnversionedDatabaseError,
)
from ibutsu_server.guard.appstate import app_guard
from ibutsu_server.guard.extension import MigrationGuard
from ibutsu_server.guard.scripts import Scripts
from ibutsu_server.guard.state import DatabaseState, LegacyFinding, StateName, inspect_database

__all__ = [
    "BrokenVersionTableError",
    "DatabaseState",
    "DatabaseUnavailableError",
    "GuardConfigError",
    "GuardError",
    "LegacyFinding",
    "LegacyTooOldError",
    "LegacyUnprovenError",
    "LockTimeoutError",
    "MigrationFailedError",
    "MigrationGuard",
    "MultipleHeadsError",
    "NotUpToDateError",
    "RefusedStateError",
    "Runner",
    "Scripts",
    "StateName",
    "UnknownRevisionError",
    "UnversionedDatabaseError",
    "app_guard",
    "inspect_database",
]
