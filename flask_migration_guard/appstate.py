"""What the guard keeps for each app, in ``app.extensions``: read by the extension, the
guard's commands and health endpoints."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from flask_migration_guard.actions import Runner
from flask_migration_guard.settings import GuardSettings
from flask_migration_guard.state import DatabaseState


@dataclass
class AppGuard:
    """One app's guard: its settings, its runner and the state its startup check saw.

    :ivar check_deferred: the startup check waits for the app's first database
        connection (the ``flask`` command loaded the app to look up a command).
    """

    settings: GuardSettings
    runner: Runner
    last_state: DatabaseState | None = None
    check_deferred: bool = False

    def startup_check_handled(self) -> None:
        """A guard command takes the database over: the deferred check is not needed."""
        self.check_deferred = False


def app_guard(app: Flask, extension_key: str | None = None) -> AppGuard:
    """The guard state of ``app``: kept under ``extension_key``, or the app's one guard.

    :raises RuntimeError: when the app has no such guard.
    """
    if extension_key is None:
        found = [value for value in app.extensions.values() if isinstance(value, AppGuard)]
        if len(found) == 1:
            return found[0]
    elif isinstance(app.extensions.get(extension_key), AppGuard):
        guard: AppGuard = app.extensions[extension_key]
        return guard
    where = f" under {extension_key!r}" if extension_key else ""
    raise RuntimeError(f"This app has no MigrationGuard{where}; call init_app first.")
