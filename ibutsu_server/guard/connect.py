"""Reaching a database that may not be up yet: bounded retries with backoff."""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ibutsu_server.config import ambiguous_url_error, is_ambiguous, mask_url
from ibutsu_server.guard.errors import DatabaseUnavailableError, database_reason

log = logging.getLogger(__name__)

# Failures that waiting cannot fix: fail at once instead of retrying.
_PERMANENT = (
    "password authentication failed",
    "does not exist",
    "no password supplied",
    "is not permitted to log in",
)


def masked_url(engine: Engine) -> str:
    """The engine's URL with its password hidden (see :func:`ibutsu_server.config.mask_url`)."""
    return mask_url(engine.url)


def refuse_ambiguous_url(engine: Engine) -> None:
    """Refuse an engine whose host holds an ``@``: part of a password whose ``@`` was
    not percent-encoded. An engine not made by ``create_app`` skipped that check.

    :raises GuardConfigError: before any connection, so the host is never looked up.
    """
    rendered = engine.url.render_as_string(hide_password=True)
    if is_ambiguous(rendered):
        raise ambiguous_url_error(rendered)


def _describe(engine: Engine, exc: BaseException) -> str:
    reason = database_reason(exc)
    password = engine.url.password
    if password:
        reason = reason.replace(str(password), "***")
    return reason


def wait_for_database(engine: Engine, timeout: float) -> None:
    """Return once ``engine`` connects; retry with backoff up to ``timeout`` seconds.

    :raises DatabaseUnavailableError: naming host and database, password masked.
    :raises GuardConfigError: when the URL is ambiguous; see :func:`refuse_ambiguous_url`.
    """
    refuse_ambiguous_url(engine)
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
                user = f" as user {url.username!r}" if url.username else ""
                if permanent:
                    waited = ""
                    fix = (
                        " Expected that user and database to exist, and the user to be allowed"
                        " to log in: fix SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*), or create"
                        " them on the server."
                    )
                else:
                    waited = f" after trying for {timeout:g} s"
                    fix = (
                        " Expected a server to answer there within IBUTSU_DB_WAIT_TIMEOUT:"
                        " check SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*) and that the server"
                        " runs, or raise IBUTSU_DB_WAIT_TIMEOUT."
                    )
                raise DatabaseUnavailableError(
                    f"Cannot connect to database {url.database!r} on host"
                    f" {url.host or 'localhost'!r}{user} (URL {masked_url(engine)!r}){waited}:"
                    f" {reason}.{fix}",
                    url=masked_url(engine),
                ) from None
            log.info("Database not reachable yet (%s); retrying in %.1f s", reason, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
