"""What the guard keeps for each app, in ``app.extensions``: read by the extension, the
``flask db`` commands and the health endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from ibutsu_server.guard.actions import Runner
from ibutsu_server.guard.settings import GuardSettings
from ibutsu_server.guard.state import DatabaseState

EXTENSION_KEY = "ibutsu_db_guard"


@dataclass
class AppGuard:
    """One app's guard: its settings, its runner and the state its startup check saw."""

    settings: GuardSettings
    runner: Runner
    last_state: DatabaseState | None = None


def app_guard(app: Flask) -> AppGuard:
    """The guard state of ``app``.

    :raises RuntimeError: when the app has no guard.
    """
    try:
        guard: AppGuard = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError("This app has no MigrationGuard; call init_app first.") from None
    return guard
