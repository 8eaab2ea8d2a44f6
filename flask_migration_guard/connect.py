"""Reaching a database that may not be up yet: bounded retries with backoff."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from flask_migration_guard.errors import (
    DatabaseUnavailableError,
    GuardConfigError,
    database_reason,
)
from flask_migration_guard.naming import DEFAULT_NAMES, Names
from flask_migration_guard.sqlite import in_memory
from flask_migration_guard.retry import poll
from flask_migration_guard.settings import WAIT_TIMEOUT
from flask_migration_guard.urls import ambiguous_url_error, is_ambiguous, mask_url

log = logging.getLogger(__name__)

# Failures that waiting cannot fix: fail at once instead of retrying.
_PERMANENT = (
    "password authentication failed",
    "does not exist",
    "no password supplied",
    "is not permitted to log in",
)

# SQLite's answers for a file it cannot use, which no wait mends (unlike a lock).
_SQLITE_PERMANENT = ("unable to open database file", "file is not a database")


def prepare_nothing(connection: Connection) -> int | None:
    """Stop psycopg 3 preparing statements on ``connection``; return its former threshold.

    psycopg 3 prepares a statement on the server once a connection has run it five
    times, naming it ``_pg3_<n>``. Behind a transaction-mode pooler, clients share
    server sessions, where names other clients prepared clash with these: the guard's
    polls would fail with ``prepared statement "_pg3_0" already exists``. psycopg2 and
    the other drivers prepare nothing by themselves (``None`` is returned).
    """
    raw: Any = connection.connection.dbapi_connection
    if not hasattr(raw, "prepare_threshold"):
        return None
    threshold: int | None = raw.prepare_threshold
    raw.prepare_threshold = None
    return threshold


@contextmanager
def unprepared(connection: Connection) -> Iterator[Connection]:
    """``connection`` preparing nothing inside the block (see :func:`prepare_nothing`),
    then as it was: a pooled connection goes back to the app unchanged."""
    raw: Any = connection.connection.dbapi_connection
    threshold = prepare_nothing(connection)
    try:
        yield connection
    finally:
        if threshold is not None:
            raw.prepare_threshold = threshold


def masked_url(engine: Engine) -> str:
    """The engine's URL with its password hidden (see :func:`.urls.mask_url`)."""
    return mask_url(engine.url)


def refuse_ambiguous_url(engine: Engine) -> None:
    """Refuse an engine whose host holds an ``@``: part of a password whose ``@`` was
    not percent-encoded. An engine not made by ``create_app`` skipped that check.

    :raises GuardConfigError: before any connection, so the host is never looked up.
    """
    rendered = engine.url.render_as_string(hide_password=True)
    if is_ambiguous(rendered):
        raise ambiguous_url_error(rendered)


def _sqlite_file(engine: Engine) -> str | None:
    """The path of ``engine``'s SQLite file; ``None`` for another dialect or in memory."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or in_memory(engine):
        return None
    if database.startswith("file:"):  # a URI filename (?uri=true): its path part
        database = unquote(urlsplit(database).path)
    return database


def refuse_missing_sqlite_folder(engine: Engine, names: Names = DEFAULT_NAMES) -> None:
    """Refuse a SQLite file whose folder does not exist: no wait can make it appear.

    :raises GuardConfigError: naming the setting and the path, before any connection.
    """
    database = _sqlite_file(engine)
    if database is None:
        return
    folder = os.path.dirname(os.path.abspath(database))
    if not os.path.isdir(folder):
        raise GuardConfigError(
            names.url_setting,
            masked_url(engine),
            "a SQLite file in a folder that exists",
            f"the folder {folder!r} does not exist: create it, or fix the path",
        )


def _describe(engine: Engine, exc: BaseException) -> str:
    reason = database_reason(exc)
    password = engine.url.password
    if password:
        reason = reason.replace(str(password), "***")
    return reason


def wait_for_database(engine: Engine, deadline: float, names: Names = DEFAULT_NAMES) -> None:
    """Return once ``engine`` connects; retry with backoff until ``deadline`` (a
    ``time.monotonic()`` value), logging each retry.

    :raises DatabaseUnavailableError: naming host and database, password masked.
    :raises GuardConfigError: when the URL is ambiguous; see :func:`refuse_ambiguous_url`.
    """
    refuse_ambiguous_url(engine)
    refuse_missing_sqlite_folder(engine, names)
    started = time.monotonic()
    last = {"reason": "", "permanent": False}

    def connect() -> bool | None:
        try:
            with engine.connect():
                return True
        except sa.exc.DBAPIError as exc:
            reason = _describe(engine, exc)
            path = _sqlite_file(engine)
            if path is not None and any(mark in reason for mark in _SQLITE_PERMANENT):
                raise GuardConfigError(
                    names.url_setting,
                    masked_url(engine),
                    "a SQLite file this process can open or create",
                    f"{os.path.abspath(path)!r} cannot be opened: {reason}; fix the path,"
                    " or its permissions",
                ) from None
            last.update(reason=reason, permanent=any(mark in reason for mark in _PERMANENT))
            if last["permanent"]:
                raise _unavailable(engine, reason, None, names) from None
            return None

    def report(delay: float) -> None:
        log.info("Database not reachable yet (%s); retrying in %.1f s", last["reason"], delay)

    if poll(connect, deadline=deadline, first=0.1, before_pause=report) is None:
        raise _unavailable(engine, str(last["reason"]), time.monotonic() - started, names)


def _unavailable(
    engine: Engine, reason: str, waited: float | None, names: Names
) -> DatabaseUnavailableError:
    """The error for a database that refused (``waited`` None) or never answered."""
    url = engine.url
    user = f" as user {url.username!r}" if url.username else ""
    if waited is None:
        tried = ""
        fix = (
            " Expected that user and database to exist, and the user to be allowed"
            f" to log in: fix {names.url_setting}, or create them on the server."
        )
    else:
        tried = f" after trying for {waited:.1f} s"
        key = names.key(WAIT_TIMEOUT)
        fix = (
            f" Expected a server to answer there within {key}:"
            f" check {names.url_setting} and that the server runs, or raise {key}."
        )
    return DatabaseUnavailableError(
        f"Cannot connect to database {url.database!r} on host"
        f" {url.host or 'localhost'!r}{user} (URL {masked_url(engine)!r}){tried}:"
        f" {reason}.{fix}",
        url=masked_url(engine),
    )
