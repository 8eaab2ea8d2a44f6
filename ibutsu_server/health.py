"""Health endpoints: ``/api/health`` (the process) and ``/api/health/database``.

Both are public and carry no credentials: the database endpoint reports only
the migration state, current and head revisions and what is pending. It
always answers JSON within :data:`DATABASE_CHECK_TIMEOUT` seconds: a database
that does not answer in time, or cannot be reached, is a 503 ``unreachable``
with a short reason that names no host, user or password.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from flask_migration_guard.appstate import app_guard
from flask_migration_guard.actions import Runner
from flask_migration_guard.state import DatabaseState
from ibutsu_server.guard_names import GUARD_NAMES

log = logging.getLogger(__name__)

health = Blueprint("health", __name__, url_prefix="/api/health")

#: Longest a request to /api/health/database waits for the database, seconds.
DATABASE_CHECK_TIMEOUT = 5.0


class _Check:
    """One read of the database's state on a thread of its own, shared by the requests
    that arrive while it runs, so that a hung database never piles up threads."""

    def __init__(self, runner: Runner) -> None:
        self.finished = threading.Event()
        self.outcome: DatabaseState | Exception | None = None
        threading.Thread(
            target=self._run, args=(runner,), name="database-health-check", daemon=True
        ).start()

    def _run(self, runner: Runner) -> None:
        try:
            self.outcome = runner.inspect(attempts=1)
        except Exception as exc:  # reported to the waiting requests
            self.outcome = exc
        finally:
            self.finished.set()


# The latest check of each app's runner; it goes with the runner.
_running: weakref.WeakKeyDictionary[Runner, _Check] = weakref.WeakKeyDictionary()
_running_lock = threading.Lock()


def _current_check(runner: Runner) -> _Check:
    with _running_lock:
        check = _running.get(runner)
        if check is None or check.finished.is_set():
            check = _running[runner] = _Check(runner)
        return check


def _reason(exc: BaseException) -> str:
    """What went wrong, in words that carry no host, user or password."""
    if isinstance(exc, sa.exc.TimeoutError):
        return "no free connection in the pool"
    error = getattr(exc, "orig", None) or exc
    return type(error).__name__


@health.get("")
def process_health() -> ResponseReturnValue:
    """200 while the process lives."""
    return {"status": "OK", "message": "Service is running"}


@health.get("/database")
def database_health() -> ResponseReturnValue:
    """200 with the migration state at head, 503 with the same fields otherwise."""
    runner = app_guard(current_app, GUARD_NAMES.extension_key).runner
    check = _current_check(runner)
    if not check.finished.wait(DATABASE_CHECK_TIMEOUT):
        reason = f"no answer within {DATABASE_CHECK_TIMEOUT:g} s"
    elif isinstance(check.outcome, DatabaseState):
        state = check.outcome
        return state.as_dict(), 200 if state.at_head else 503
    else:
        reason = _reason(check.outcome or RuntimeError("no outcome"))
    log.warning("Database health check: unreachable (%s)", reason)
    body: dict[str, Any] = {
        "state": "unreachable",
        "reason": reason,
        "current": [],
        "head": list(runner.scripts.heads),
        "pending": [],
    }
    return body, 503
