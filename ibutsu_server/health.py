"""Health endpoints: ``/api/health`` (the process) and ``/api/health/database``.

Both are public and carry no credentials: the database endpoint reports only
the migration state, current and head revisions and what is pending.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from ibutsu_server.guard import app_guard

log = logging.getLogger(__name__)

health = Blueprint("health", __name__, url_prefix="/api/health")


@health.get("")
def process_health() -> ResponseReturnValue:
    """200 while the process lives."""
    return {"status": "OK", "message": "Service is running"}


@health.get("/database")
def database_health() -> ResponseReturnValue:
    """200 with the migration state at head, 503 with the same fields otherwise."""
    runner = app_guard(current_app).runner
    try:
        state = runner.inspect()
    except sa.exc.DBAPIError as exc:
        log.warning("Database health check could not connect: %s", type(exc).__name__)
        head = list(runner.scripts.heads)
        return {"state": "unreachable", "current": [], "head": head, "pending": []}, 503
    return state.as_dict(), 200 if state.at_head else 503
