"""Health endpoints: ``/api/health`` (the process) and ``/api/health/database``.

Both are public and carry no credentials: the database endpoint reports only
the migration state, current and head revisions and what is pending. It
always answers JSON within :data:`DATABASE_CHECK_TIMEOUT` seconds: a database
that does not answer in time, or cannot be reached, is a 503 ``unreachable``
with a short reason that names no host, user or password.
"""

from __future__ import annotations

import logging
import re
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


# What the driver said (lower case), and the short reason the endpoint gives for it; the
# first match wins. Fixed words, so that no host, user, database or password gets through.
_REASONS = (
    (r"connection refused", "connection refused"),
    (r"timeout expired|timed out", "connection timed out"),
    (
        r"could not translate host name|name or service not known|name resolution",
        "host name not found",
    ),
    (r"no route to host|network is unreachable", "no route to the server"),
    (r"fatal:\s+role \"", "role does not exist"),
    (r"fatal:\s+database \"", "database does not exist"),
    (r"password authentication failed|no pg_hba\.conf entry", "authentication failed"),
    (r"too many clients|remaining connection slots", "server has no free connection slots"),
    (r"starting up|in recovery mode", "server is starting up"),
    (r"shutting down|terminating connection", "server is shutting down"),
    (r"server closed the connection|connection reset|consuming input failed", "connection lost"),
    (r"\bssl\b", "SSL negotiation failed"),
    (r"unable to open database file", "database file cannot be opened"),
)


def _reason(exc: BaseException) -> str:
    """What went wrong, in fixed words that carry no host, user or password; the error's
    class name when the driver's message is not one of the known kinds."""
    if isinstance(exc, sa.exc.TimeoutError):
        return "no free connection in the pool"
    error = getattr(exc, "orig", None) or exc
    said = str(error).lower()
    for pattern, reason in _REASONS:
        if re.search(pattern, said):
            return reason
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
        return state.as_dict(), 200 if state.servable else 503
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
