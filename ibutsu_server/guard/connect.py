"""Reaching a database that may not be up yet: bounded retries with backoff."""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ibutsu_server.guard.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)

# Failures that waiting cannot fix: fail at once instead of retrying.
_PERMANENT = ("password authentication failed", "does not exist", "no password supplied")


def masked_url(engine: Engine) -> str:
    """The engine's URL with its password hidden."""
    return engine.url.render_as_string(hide_password=True)


def _describe(engine: Engine, exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    password = engine.url.password
    if password:
        reason = reason.replace(str(password), "***")
    return reason


def wait_for_database(engine: Engine, timeout: float) -> None:
    """Return once ``engine`` connects; retry with backoff up to ``timeout`` seconds.

    :raises DatabaseUnavailableError: naming host and database, password masked.
    """
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        try:
            with engine.connect():
                return
        except sa.exc.DBAPIError as exc:
            reason = _describe(engine, exc)
            permanent = any(marker in reason for marker in _PERMANENT)
            if permanent or time.monotonic() + delay > deadline:
                url = engine.url
                waited = "" if permanent else f" after trying for {timeout:g} s"
                raise DatabaseUnavailableError(
                    f"Cannot connect to database {url.database!r} on host"
                    f" {url.host or 'localhost'!r} ({masked_url(engine)}){waited}: {reason}."
                    " Check SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*), that the server runs,"
                    " or raise IBUTSU_DB_WAIT_TIMEOUT.",
                    url=masked_url(engine),
                ) from None
            log.info("Database not reachable yet (%s); retrying in %.1f s", reason, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
