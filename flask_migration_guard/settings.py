"""The guard's settings: keys, defaults and validation, read once per app.

Each key is the app's prefix (:attr:`Names.prefix`, ``DB_GUARD_`` by default) and:

===================== ==========================================================
``MIGRATE``           ``check``, ``wait``, ``upgrade`` or ``off``
``WAIT_TIMEOUT``      seconds to wait for the database to answer, and for
                      ``wait`` mode to see it at head: 0 to 86400 (one day),
                      default 60
``LOCK_TIMEOUT``      seconds to wait for another process's migration lock:
                      0 to 86400 (one day), default 300
``DDL_LOCK_TIMEOUT``  PostgreSQL ``lock_timeout`` for migration statements,
                      seconds: 0 (wait forever) or 0.001 to 2147483.647
                      (1 ms to PostgreSQL's maximum), default 30
``MIGRATIONS_DIR``    the Alembic script directory (default: the app's)
``EDITED_REVISIONS``  ``warn`` (default) or ``refuse``: what a boot does when a
                      revision file changed after it was applied (the schema
                      history's checksum differs)
===================== ==========================================================

Each is read from the app config, else from the environment, else the default.
A value outside its range is refused when the app starts, before any connection.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from flask import Flask

from flask_migration_guard.errors import GuardConfigError
from flask_migration_guard.naming import Names

MODES = ("check", "wait", "upgrade", "off")
ON_EDITED = ("warn", "refuse")
# The settings, each read under the app's prefix (see Names.key).
MODE = "MIGRATE"
WAIT_TIMEOUT = "WAIT_TIMEOUT"
LOCK_TIMEOUT = "LOCK_TIMEOUT"
DDL_LOCK_TIMEOUT = "DDL_LOCK_TIMEOUT"
DIRECTORY = "MIGRATIONS_DIR"
EDITED = "EDITED_REVISIONS"

DEFAULT_WAIT_TIMEOUT = 60.0
DEFAULT_LOCK_TIMEOUT = 300.0
DEFAULT_DDL_LOCK_TIMEOUT = 30.0


@dataclass(frozen=True)
class SecondsRange:
    """The numbers of seconds a setting allows: ``low`` to ``high``, and 0 when ``zero``
    says what 0 means there.

    :ivar note: why the range ends where it does, shown after it in messages.
    """

    low: float
    high: float
    note: str
    zero: str = ""

    def allows(self, seconds: float) -> bool:
        """Whether ``seconds`` (finite, 0 or more) is in the range."""
        return self.low <= seconds <= self.high or (bool(self.zero) and seconds == 0)

    def __str__(self) -> str:
        span = f"a number of seconds from {_number(self.low)} to {_number(self.high)} ({self.note})"
        return f"0 ({self.zero}) or {span}" if self.zero else span


def _number(seconds: float) -> str:
    return repr(seconds).removesuffix(".0")


#: The range of each setting that is a number of seconds. One day bounds the waits,
#: far below what Python's waits accept; ``lock_timeout`` is whole milliseconds, where
#: PostgreSQL reads 0 as "wait forever" and refuses more than 2147483647. From 0.001 s
#: on, the runner's ``int(seconds * 1000)`` is 1 or more, never that 0.
SECONDS_RANGES = {
    WAIT_TIMEOUT: SecondsRange(0.0, 86400.0, "one day"),
    LOCK_TIMEOUT: SecondsRange(0.0, 86400.0, "one day"),
    DDL_LOCK_TIMEOUT: SecondsRange(
        0.001, 2147483.647, "PostgreSQL's lock_timeout, 1 to 2147483647 ms", zero="wait forever"
    ),
}


@dataclass(frozen=True)
class GuardSettings:
    """Validated settings of one app."""

    mode: str
    wait_timeout: float
    lock_timeout: float
    ddl_lock_timeout: float
    directory: str
    edited: str = "warn"


def _setting(app: Flask, key: str, default: Any) -> Any:
    return app.config.setdefault(key, os.environ.get(key, default))


def parse_choice(value: Any, key: str, choices: tuple[str, ...] = MODES) -> str:
    """Normalise one of ``choices`` (the modes by default), or raise naming the key and
    the allowed values."""
    choice = str(value).strip().lower()
    if choice not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise GuardConfigError(key, value, f"one of {allowed}")
    return choice


def parse_seconds(value: Any, key: str, setting: str) -> float:
    """A number of seconds within the range :data:`SECONDS_RANGES` gives ``setting``.

    :param key: the config key the value came from, for the error.

    :raises GuardConfigError: naming the key, the value and the range it missed.
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise GuardConfigError(key, value, "a number of seconds, 0 or more")
    allowed = SECONDS_RANGES[setting]
    if not allowed.allows(seconds):
        raise GuardConfigError(key, value, str(allowed))
    return seconds


def read_seconds(app: Flask, names: Names, setting: str, default: float) -> float:
    """The validated number of seconds of ``setting`` for ``app``."""
    key = names.key(setting)
    return parse_seconds(_setting(app, key, default), key, setting)


def check_directory(directory: str, key: str) -> None:
    """Refuse a script directory without Alembic's env.py.

    Checked when the directory is first needed, not when the app is made, so that a
    command that creates it (Flask-Migrate's ``flask db init``) can load the app.

    :raises GuardConfigError: naming ``key`` and the directory.
    """
    if not os.path.isfile(os.path.join(directory, "env.py")):
        raise GuardConfigError(key, directory, "a folder holding Alembic's env.py")


def read_settings(
    app: Flask, names: Names, *, default_mode: str, default_directory: str
) -> GuardSettings:
    """Read and validate the guard's keys from ``app``.

    :raises GuardConfigError: naming the first key with a bad value.
    """
    directory = str(_setting(app, names.key(DIRECTORY), default_directory))
    mode_key, edited_key = names.key(MODE), names.key(EDITED)
    return GuardSettings(
        mode=parse_choice(_setting(app, mode_key, default_mode), mode_key),
        wait_timeout=read_seconds(app, names, WAIT_TIMEOUT, DEFAULT_WAIT_TIMEOUT),
        lock_timeout=read_seconds(app, names, LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT),
        ddl_lock_timeout=read_seconds(app, names, DDL_LOCK_TIMEOUT, DEFAULT_DDL_LOCK_TIMEOUT),
        directory=directory,
        edited=parse_choice(_setting(app, edited_key, "warn"), edited_key, ON_EDITED),
    )
