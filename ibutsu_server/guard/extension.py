"""The Flask extension: checks, waits for or upgrades the database at startup."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import click
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from ibutsu_server.guard.actions import Runner
from ibutsu_server.guard.appstate import EXTENSION_KEY, AppGuard, app_guard
from ibutsu_server.guard.cli import db_group, invoked_by_db_group
from ibutsu_server.guard.connect import masked_url, wait_for_database
from ibutsu_server.guard.refusals import error_for, raise_if_refused
from ibutsu_server.guard.retry import poll
from ibutsu_server.guard.scripts import Scripts
from ibutsu_server.guard.settings import read_settings
from ibutsu_server.guard.sqlite import in_memory
from ibutsu_server.guard.state import DatabaseState, LegacyDetector

log = logging.getLogger(__name__)


def _flask_sqlalchemy_engine(app: Flask) -> Engine:
    with app.app_context():
        engine: Engine = app.extensions["sqlalchemy"].engine
    return engine


class MigrationGuard:
    """Keep an app from serving a database that is not at the scripts' head.

    At ``init_app`` it applies the mode from ``IBUTSU_DB_MIGRATE`` (see
    :mod:`ibutsu_server.guard.settings` for every key): ``check`` fails unless
    the database is at head, ``wait`` polls until it is, ``upgrade`` migrates it
    under the migration lock, ``off`` skips the check with a warning. The
    ``flask db`` commands skip the startup check, since they exist to fix what
    it would refuse.

    :param app: the app to set up now, or ``None`` to call :meth:`init_app` later.
    :param directory: the default script directory.
    :param legacy_detector: the application's hook for pre-Alembic databases.
    :param engine: a function returning the app's engine; Flask-SQLAlchemy's by default.
    :param default_mode: the mode when ``IBUTSU_DB_MIGRATE`` is not set; a SQLite
        database in memory, which no other process can reach, is upgraded instead.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        directory: str,
        legacy_detector: LegacyDetector | None = None,
        engine: Callable[[Flask], Engine] = _flask_sqlalchemy_engine,
        default_mode: str = "check",
    ) -> None:
        self.directory = directory
        self.legacy_detector = legacy_detector
        self.engine = engine
        self.default_mode = default_mode
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the settings, register ``flask db``, and apply the mode.

        :raises RuntimeError: if the app already has a guard.
        :raises GuardError: when the mode finds the database unusable.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "A MigrationGuard is already registered on this app;"
                " create one guard per app and call init_app once."
            )
        engine = self.engine(app)
        # A SQLite database in memory is private to this process and gone with it: no
        # other process can migrate it, so by default the guard does.
        default_mode = "upgrade" if in_memory(engine) else self.default_mode
        settings = read_settings(app, default_mode=default_mode, default_directory=self.directory)
        runner = Runner(
            engine=engine,
            scripts=Scripts(settings.directory),
            legacy_detector=self.legacy_detector,
            lock_timeout=settings.lock_timeout,
            ddl_lock_timeout=settings.ddl_lock_timeout,
        )
        app.extensions[EXTENSION_KEY] = AppGuard(settings, runner)

        if "db" not in app.cli.commands:
            app.cli.add_command(db_group)
        if invoked_by_db_group(click.get_current_context(silent=True)):
            log.debug("Startup check skipped: running a 'flask db' command")
            return
        apply_mode(app)


def _wait_for_head(guard: AppGuard) -> DatabaseState:
    seen: list[DatabaseState] = []

    def at_head() -> DatabaseState | None:
        state = guard.runner.inspect()
        raise_if_refused(state)
        seen.append(state)
        return state if state.at_head else None

    deadline = time.monotonic() + guard.settings.wait_timeout
    return poll(at_head, deadline=deadline, first=0.2, factor=1.5, cap=2.0) or seen[-1]


def apply_mode(app: Flask) -> DatabaseState | None:
    """Apply the app's mode to its database; called by :meth:`MigrationGuard.init_app`.

    :return: the database state at the end, or ``None`` in ``off`` mode.
    :raises GuardError: when the database cannot be used in this mode.
    """
    guard = app_guard(app)
    settings, runner = guard.settings, guard.runner
    if settings.mode == "off":
        log.warning(
            "IBUTSU_DB_MIGRATE=off: the database schema is not checked; the app may"
            " serve a database that does not match its code"
        )
        return None
    started = time.perf_counter()
    wait_for_database(runner.engine, settings.wait_timeout)
    if settings.mode == "upgrade":
        state = runner.upgrade()  # at head: one query, no lock
    else:
        state = runner.inspect()
        if not state.at_head and settings.mode == "wait":
            state = _wait_for_head(guard)
    error = error_for(state)
    if error is not None:
        raise error
    guard.last_state = state
    log.info(
        "Database %s: %s (current %s, head %s) in %s mode, %.1f ms",
        masked_url(runner.engine),
        state.name.value,
        ", ".join(state.current) or "none",
        ", ".join(state.head) or "none",
        settings.mode,
        (time.perf_counter() - started) * 1000,
    )
    # Leave no pooled connection behind: a server that forks workers after
    # building the app (gunicorn --preload) must not share the check's sockets.
    # A static pool's one connection is the database itself (SQLite in memory).
    if not isinstance(runner.engine.pool, StaticPool):
        runner.engine.dispose()
    return state
