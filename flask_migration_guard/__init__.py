"""A startup migration guard for Flask apps that use Alembic.

Generic: it knows the application only through a script directory, an engine,
the names it is given (:class:`Names`) and an optional legacy-detection hook.
The public API is what this module exports, and :mod:`flask_migration_guard.errors`.
Each name is imported on first use, so that importing one module of the package
(its errors, say) does not load the rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask_migration_guard import errors
    from flask_migration_guard.extension import MigrationGuard
    from flask_migration_guard.naming import Names
    from flask_migration_guard.state import (
        DatabaseState,
        LegacyDetector,
        LegacyFinding,
        StateName,
    )

_MODULES = {
    "errors": "",
    "MigrationGuard": "extension",
    "Names": "naming",
    "DatabaseState": "state",
    "LegacyDetector": "state",
    "LegacyFinding": "state",
    "StateName": "state",
}

__all__ = [
    "DatabaseState",
    "LegacyDetector",
    "LegacyFinding",
    "MigrationGuard",
    "Names",
    "StateName",
    "errors",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _MODULES[name]:
        return import_module(f"{__name__}.{name}")
    return getattr(import_module(f"{__name__}.{_MODULES[name]}"), name)
