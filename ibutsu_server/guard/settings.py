"""The guard's settings: keys, defaults and validation, read once per app.

========================== ========================================================
``IBUTSU_DB_MIGRATE``      ``check``, ``wait``, ``upgrade`` or ``off``
``IBUTSU_DB_WAIT_TIMEOUT`` seconds to wait for the database to answer, and for
                           ``wait`` mode to see it at head (default 60)
``IBUTSU_DB_LOCK_TIMEOUT`` seconds to wait for another process's migration lock
                           (default 300)
``IBUTSU_DB_DDL_LOCK_TIMEOUT`` PostgreSQL ``lock_timeout`` for migration statements,
                           seconds (default 30; 0 waits forever)
``IBUTSU_DB_MIGRATIONS_DIR`` the Alembic script directory (default: the package's)
========================== ========================================================

Each is read from the app config, else from the environment, else the default.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from flask import Flask

from ibutsu_server.guard.errors import GuardConfigError

MODES = ("check", "wait", "upgrade", "off")
MODE_KEY = "IBUTSU_DB_MIGRATE"
WAIT_TIMEOUT_KEY = "IBUTSU_DB_WAIT_TIMEOUT"
LOCK_TIMEOUT_KEY = "IBUTSU_DB_LOCK_TIMEOUT"
DDL_LOCK_TIMEOUT_KEY = "IBUTSU_DB_DDL_LOCK_TIMEOUT"
DIRECTORY_KEY = "IBUTSU_DB_MIGRATIONS_DIR"

DEFAULT_WAIT_TIMEOUT = 60.0
DEFAULT_LOCK_TIMEOUT = 300.0
DEFAULT_DDL_LOCK_TIMEOUT = 30.0


@dataclass(frozen=True)
class GuardSettings:
    """Validated settings of one app."""

    mode: str
    wait_timeout: float
    lock_timeout: float
    ddl_lock_timeout: float
    directory: str


def _setting(app: Flask, key: str, default: Any) -> Any:
    return app.config.setdefault(key, os.environ.get(key, default))


def parse_mode(value: Any, key: str = MODE_KEY) -> str:
    """Normalise a mode, or raise naming the key and the allowed values."""
    mode = str(value).strip().lower()
    if mode not in MODES:
        allowed = ", ".join(repr(m) for m in MODES)
        raise GuardConfigError(key, value, f"one of {allowed}")
    return mode


def parse_seconds(value: Any, key: str) -> float:
    """A non-negative, finite number of seconds, or raise naming the key."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise GuardConfigError(key, value, "a number of seconds, 0 or more")
    return seconds


def read_settings(app: Flask, *, default_mode: str, default_directory: str) -> GuardSettings:
    """Read and validate the guard's keys from ``app``.

    :raises GuardConfigError: naming the first key with a bad value.
    """
    directory = str(_setting(app, DIRECTORY_KEY, default_directory))
    if not os.path.isfile(os.path.join(directory, "env.py")):
        raise GuardConfigError(DIRECTORY_KEY, directory, "a folder holding Alembic's env.py")
    return GuardSettings(
        mode=parse_mode(_setting(app, MODE_KEY, default_mode)),
        wait_timeout=parse_seconds(
            _setting(app, WAIT_TIMEOUT_KEY, DEFAULT_WAIT_TIMEOUT), WAIT_TIMEOUT_KEY
        ),
        lock_timeout=parse_seconds(
            _setting(app, LOCK_TIMEOUT_KEY, DEFAULT_LOCK_TIMEOUT), LOCK_TIMEOUT_KEY
        ),
        ddl_lock_timeout=parse_seconds(
            _setting(app, DDL_LOCK_TIMEOUT_KEY, DEFAULT_DDL_LOCK_TIMEOUT), DDL_LOCK_TIMEOUT_KEY
        ),
        directory=directory,
    )
