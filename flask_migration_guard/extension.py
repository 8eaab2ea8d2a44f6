"""The Flask extension: checks, waits for or upgrades the database at startup."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType

import click
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from flask_migration_guard.actions import Runner
from flask_migration_guard.appstate import AppGuard
from flask_migration_guard.cli import GuardGroup, looks_up_command, runs_guard_command
from flask_migration_guard.connect import masked_url
from flask_migration_guard.errors import GuardError, NotUpToDateError
from flask_migration_guard.naming import DEFAULT_NAMES, Names
from flask_migration_guard.progress import PROGRESS_INTERVAL
from flask_migration_guard.refusals import (
    edited_error,
    edited_message,
    error_for,
    raise_if_refused,
)
from flask_migration_guard.retry import poll
from flask_migration_guard.scripts import Scripts
from flask_migration_guard.settings import (
    DIRECTORY,
    MODE,
    WAIT_TIMEOUT,
    check_directory,
    read_settings,
)
from flask_migration_guard.sqlite import in_memory
from flask_migration_guard.state import DatabaseState, LegacyDetector, StateName

log = logging.getLogger(__name__)


def _flask_sqlalchemy_engine(app: Flask) -> Engine:
    with app.app_context():
        engine: Engine = app.extensions["sqlalchemy"].engine
    return engine


class MigrationGuard:
    """Keep an app from serving a database that is not at the scripts' head.

    At ``init_app`` it applies the mode from ``<prefix>MIGRATE`` (see
    :mod:`flask_migration_guard.settings` for every key): ``check`` fails unless
    the database is at head, ``wait`` polls until it is, ``upgrade`` migrates it
    under the migration lock, ``off`` skips the check with a warning. It adds
    the guard's command group to ``app.cli``; its commands skip the startup
    check, since they exist to fix what it would refuse. When the ``flask``
    command loads the app only to look up which command to run, the check waits
    for the app's first database connection.

    :param app: the app to set up now, or ``None`` to call :meth:`init_app` later.
    :param directory: the default script directory.
    :param legacy_detector: the application's hook for pre-Alembic databases.
    :param engine: a function returning the app's engine; Flask-SQLAlchemy's by default.
    :param default_mode: the mode when ``<prefix>MIGRATE`` is not set; a SQLite
        database in memory, which no other process can reach, is upgraded instead.
    :param names: the config prefix, extension key, lock, channel, command group,
        hints and version table of this app's guard.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        directory: str,
        legacy_detector: LegacyDetector | None = None,
        engine: Callable[[Flask], Engine] = _flask_sqlalchemy_engine,
        default_mode: str = "check",
        names: Names = DEFAULT_NAMES,
    ) -> None:
        self.directory = directory
        self.legacy_detector = legacy_detector
        self.engine = engine
        self.default_mode = default_mode
        self.names = names
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the settings, add the command group, and apply the mode.

        :raises RuntimeError: if the app already has this guard, or a command of
            the group's name.
        :raises GuardError: when the mode finds the database unusable.
        """
        names = self.names
        if names.extension_key in app.extensions:
            raise RuntimeError(
                f"A MigrationGuard is already registered on this app under"
                f" {names.extension_key!r}; create one guard per app and call init_app once."
            )
        if names.command is not None and names.command in app.cli.commands:
            raise RuntimeError(
                f"The app already has a {names.command!r} command: give the guard's"
                " commands another name with Names(command=...), or none with"
                " Names(command=None)."
            )
        group = GuardGroup(names.command, names.extension_key) if names.command else None
        if group is not None:
            app.cli.add_command(group)
        guard = self._set_up(app)
        ctx = click.get_current_context(silent=True)
        if runs_guard_command(ctx):
            log.debug("Startup check skipped: running a command of the guard")
        elif looks_up_command(ctx):
            _check_on_first_connection(guard)
        else:
            try:
                apply_mode(guard)
            except GuardError:
                _end_uncaught_errors_in_one_line()
                raise

    def _set_up(self, app: Flask) -> AppGuard:
        """Read the app's settings and keep its guard state in ``app.extensions``.

        :raises GuardConfigError: naming the first key with a bad value.
        """
        engine = self.engine(app)
        # A SQLite database in memory is private to this process and gone with it: no
        # other process can migrate it, so by default the guard does.
        default_mode = "upgrade" if in_memory(engine) else self.default_mode
        settings = read_settings(
            app, self.names, default_mode=default_mode, default_directory=self.directory
        )
        runner = Runner(
            engine=engine,
            scripts=Scripts(settings.directory),
            legacy_detector=self.legacy_detector,
            lock_timeout=settings.lock_timeout,
            ddl_lock_timeout=settings.ddl_lock_timeout,
            names=self.names,
            wait_timeout=settings.wait_timeout,
        )
        guard = AppGuard(settings, runner)
        app.extensions[self.names.extension_key] = guard
        return guard


def _one_line_unless_debug(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    """``sys.excepthook`` for a process that a guard error nobody caught ends: the error's
    one line, or the full traceback when the guard's logger is at DEBUG."""
    if isinstance(error, GuardError) and not log.isEnabledFor(logging.DEBUG):
        print(f"Error: {error.format_message()}", file=sys.stderr, flush=True)
    else:
        _previous_excepthook(kind, error, trace)


_previous_excepthook = sys.excepthook


def _end_uncaught_errors_in_one_line() -> None:
    """Make a refused boot that nobody catches (a script calling the app factory) end
    with the error's one line, as the ``flask`` command prints it, not a traceback.
    Other exceptions, and any caught, are left alone."""
    global _previous_excepthook
    if sys.excepthook is not _one_line_unless_debug:
        _previous_excepthook = sys.excepthook
        sys.excepthook = _one_line_unless_debug


def _check_on_first_connection(guard: AppGuard) -> None:
    """Run the startup check when the app first connects, unless a guard command
    takes the database over first."""
    guard.check_deferred = True

    def first_connection(_: Connection) -> None:
        if guard.check_deferred:
            guard.check_deferred = False
            apply_mode(guard, dispose=False)

    sa.event.listen(guard.runner.engine, "engine_connect", first_connection)


def _wait_for_head(guard: AppGuard, state: DatabaseState, deadline: float) -> DatabaseState:
    """Poll until the database is at head (another process migrates it) or ``deadline``.

    A line is logged when the wait starts and every :data:`PROGRESS_INTERVAL` seconds.

    :raises NotUpToDateError: at the deadline, saying how long it waited and what it saw.
    """
    runner, started = guard.runner, time.monotonic()
    seen = [state]
    next_line = started

    def at_head() -> DatabaseState | None:
        nonlocal next_line
        now = time.monotonic()
        if now >= next_line:
            log.info(
                "Waiting for another process to bring the database to head %s: it is at %s"
                " (%s); %.1f s of %s=%g s waited",
                ", ".join(seen[-1].head),
                ", ".join(seen[-1].current) or "no revision",
                seen[-1].name.value,
                now - started,
                runner.names.key(WAIT_TIMEOUT),
                guard.settings.wait_timeout,
            )
            next_line = now + PROGRESS_INTERVAL
        state = runner.inspect()
        raise_if_refused(state, runner.names)
        seen.append(state)
        return state if state.servable else None

    reached = poll(at_head, deadline=deadline, first=0.2, factor=1.5, cap=2.0)
    if reached is not None:
        return reached
    error = error_for(seen[-1], runner.names)
    assert error is not None  # not at head
    waited = time.monotonic() - started
    raise NotUpToDateError(
        f"Waited {waited:.1f} s (of {runner.names.key(WAIT_TIMEOUT)}="
        f"{guard.settings.wait_timeout:g} s) for another process to bring the database to"
        f" head; the last read found it still not at head. {error.message}",
        seen[-1],
    )


def apply_mode(guard: AppGuard, *, dispose: bool = True) -> DatabaseState | None:
    """Apply the app's mode to its database; called by :meth:`MigrationGuard.init_app`.

    :param dispose: close the pool's connections afterwards (see below).
    :return: the database state at the end, or ``None`` in ``off`` mode.
    :raises GuardError: when the database cannot be used in this mode.
    """
    settings, runner = guard.settings, guard.runner
    check_directory(settings.directory, runner.names.key(DIRECTORY))
    if settings.mode == "off":
        log.warning(
            "%s=off: the database schema is not checked; the app may"
            " serve a database that does not match its code",
            runner.names.key(MODE),
        )
        return None
    started = time.perf_counter()
    # One deadline for the whole wait: the connection, then (wait mode) the head.
    deadline = time.monotonic() + settings.wait_timeout
    runner.wait_for_database(deadline)
    if settings.mode == "upgrade":
        state = runner.upgrade()  # at head: one query, no lock
    else:
        state = runner.inspect()
        if settings.mode == "wait" and state.upgradable:
            state = _wait_for_head(guard, state, deadline)
    error = error_for(state, runner.names)
    if error is not None:
        raise error
    edited = runner.edited_revisions()
    if edited and settings.edited == "refuse":
        raise edited_error(edited, runner.names)
    if edited:
        log.warning("%s", edited_message(edited, runner.names))
    if state.name is StateName.AHEAD_COMPATIBLE:
        log.warning(
            "The database is ahead of this code by %s, each recorded as backward"
            " compatible: serving it (a rolling deploy, or a rollback)",
            ", ".join(state.ahead),
        )
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
    if dispose and not isinstance(runner.engine.pool, StaticPool):
        runner.engine.dispose()
    return state
