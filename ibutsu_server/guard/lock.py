"""The migration lock: one migrating process at a time, per database.

- PostgreSQL: a session-level advisory lock held on a connection of its own in
  autocommit mode, so no transaction stays open while migrations run. It is
  taken with ``pg_try_advisory_lock``, polled with jitter up to the timeout:
  a waiter blocked inside ``pg_advisory_lock`` would make the holder's
  ``CREATE INDEX CONCURRENTLY`` wait for it. Waiters LISTEN for the holder's
  release notice, so they poll seldom; woken, they first ask whether the
  database is at head, and if so finish without taking the lock. A process that dies ends its
  session, and the lock goes with it. A waiter whose connection drops (a
  server restart) reconnects and polls on until the same deadline.
- SQLite: an OS file lock beside the database file, released by the OS when
  its holder dies. In-memory databases need none.
- Within one process, a thread lock, since Alembic's commands are not
  thread-safe.
"""

from __future__ import annotations

import hashlib
import logging
import random
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

import filelock
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ibutsu_server.guard.errors import (
    DatabaseUnavailableError,
    LockTimeoutError,
    database_reason,
)

log = logging.getLogger(__name__)

#: Asked between polls whether the lock is still needed; gets a connection it may read on.
Unless = Callable[[Optional[Connection]], bool]

LOCK_NAME = "ibutsu_server.db.migrations"
_process_lock = threading.Lock()


def advisory_key(name: str = LOCK_NAME) -> int:
    """The advisory lock key for ``name``: a signed 64-bit number every version agrees on."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


#: Longest pause between two polls of a taken lock, seconds.
MAX_POLL_INTERVAL = 0.2
#: The pause of a waiter that something else wakes when the holder lets go
#: (jittered down to half): on PostgreSQL the holder's NOTIFY, on SQLite the
#: file lock coming free. Polling then only covers the unusual cases, such as
#: a holder that died without a NOTIFY.
MAX_POLL_INTERVAL_LISTENING = 1.0
#: Pause between two tries of a taken SQLite file lock, seconds.
FILE_LOCK_POLL_INTERVAL = 0.01
#: PostgreSQL channel on which a holder announces that it released the lock.
RELEASED_CHANNEL = "ibutsu_migration_lock_released"


def _seldom() -> float:
    """The pause between polls when something else wakes the waiter sooner."""
    return MAX_POLL_INTERVAL_LISTENING * random.uniform(0.5, 1.0)


def _poll_delay(attempt: int) -> float:
    return float(min(0.02 * 2**attempt, MAX_POLL_INTERVAL) * random.uniform(0.5, 1.0))


def _wait_for_release(connection: Connection | None, attempt: int, deadline: float) -> None:
    """Pause before the next poll, waking early when the holder announces its release.

    The waiter LISTENs on its lock connection; psycopg 3 and psycopg2 can wait
    on it, and then poll seldom. With another driver, or no connection, it
    simply sleeps. It never sleeps past ``deadline`` (``time.monotonic()``).
    """
    raw: Any = connection.connection.dbapi_connection if connection is not None else None
    psycopg3 = callable(getattr(raw, "notifies", None))
    psycopg2 = not psycopg3 and raw is not None and hasattr(raw, "poll")
    delay = _seldom() if psycopg3 or psycopg2 else _poll_delay(attempt)
    delay = max(0.0, min(delay, deadline - time.monotonic()))
    try:
        if psycopg3:  # 3.2.4 on keeps notices that came with a reply
            for _ in raw.notifies(timeout=delay, stop_after=1):
                pass
            return
        if psycopg2:
            if not raw.notifies:  # one may have come in with the last query's reply
                select.select([raw], [], [], delay)
                raw.poll()
            del raw.notifies[:]
            return
    except Exception:  # a broken connection shows on the next poll, which reconnects
        log.debug("Waiting for a lock notification failed; polling instead", exc_info=True)
        delay = min(delay, _poll_delay(attempt))  # never poll in a tight loop
    time.sleep(delay)


def _listening_connection(engine: Engine) -> Connection:
    connection = _autocommit_connection(engine)
    connection.exec_driver_sql(f"LISTEN {RELEASED_CHANNEL}")
    return connection


def _holder(connection: Connection, key: int) -> str:
    """Describe who holds the advisory lock, for the timeout message."""
    row = connection.execute(
        sa.text(
            "SELECT a.pid, a.application_name, a.client_addr, a.backend_start"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND l.classid = ((:key >> 32) & 4294967295)::oid"
            " AND l.objid = (:key & 4294967295)::oid"
        ),
        {"key": key},
    ).first()
    if row is None:
        return "a session that has since ended"
    client = row.client_addr or "a local socket"
    return f"backend pid {row.pid} ({row.application_name or 'unnamed'}, from {client})"


def _autocommit_connection(engine: Engine) -> Connection:
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _warn_lost(reason: str) -> None:
    log.warning(
        "Lost the database connection while waiting for the migration lock (%s); reconnecting",
        reason,
    )


def _acquire_advisory(
    engine: Engine, timeout: float, key: int, unless: Unless | None
) -> Connection | None:
    """Poll for the advisory lock up to ``timeout``; return the connection that holds it.

    Between polls ``unless`` may say the lock is no longer needed: then ``None``.

    A waiter that loses its connection (the server restarted, say) has lost
    nothing, since it held no lock: it connects again and polls on, within the
    same deadline.
    """
    deadline = time.monotonic() + timeout
    connection: Connection | None = _listening_connection(engine)
    lost = ""
    attempt = 0
    try:
        while True:
            if attempt > 0 and unless is not None:
                if unless(connection):
                    # Woken (or polled) after the holder finished: no need to take the lock.
                    if connection is not None:
                        connection.close()
                    return None
                if connection is not None and connection.invalidated:
                    lost = "the server closed the connection"
                    _warn_lost(lost)
                    connection.close()
                    connection = None
            if connection is None:
                try:
                    connection = _listening_connection(engine)
                except sa.exc.DBAPIError as exc:
                    lost = database_reason(exc)
            if connection is not None:
                try:
                    if connection.execute(
                        sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
                    ).scalar():
                        return connection
                except sa.exc.DBAPIError as exc:
                    if not exc.connection_invalidated:
                        raise
                    lost = database_reason(exc)
                    _warn_lost(lost)
                    connection.close()
                    connection = None
            if time.monotonic() >= deadline:
                if connection is None:
                    url = engine.url
                    raise DatabaseUnavailableError(
                        f"Lost the connection to database {url.database!r} on host"
                        f" {url.host or 'localhost'!r} while waiting for the migration lock,"
                        f" and IBUTSU_DB_LOCK_TIMEOUT ({timeout:g} s) passed before it came"
                        f" back: {lost}. Check that the server runs, or raise"
                        " IBUTSU_DB_LOCK_TIMEOUT.",
                        url=url.render_as_string(hide_password=True),
                    )
                raise LockTimeoutError(
                    f"The migration lock is held by {_holder(connection, key)}, and"
                    f" IBUTSU_DB_LOCK_TIMEOUT ({timeout:g} s) has passed. Another process"
                    " is probably migrating: wait for it, or raise IBUTSU_DB_LOCK_TIMEOUT."
                )
            if attempt == 0:
                log.info("Waiting for the migration lock, held by another process")
            _wait_for_release(connection, attempt, deadline)
            attempt += 1
    except BaseException:
        if connection is not None:
            connection.close()
        raise


@contextmanager
def _postgresql_lock(
    engine: Engine, timeout: float, key: int, unless: Unless | None
) -> Iterator[bool]:
    connection = _acquire_advisory(engine, timeout, key, unless)
    if connection is None:
        yield False
        return
    try:
        yield True
    finally:
        try:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.exec_driver_sql(f"NOTIFY {RELEASED_CHANNEL}")
        except sa.exc.DBAPIError:
            log.warning("Could not release the migration lock; its session will end it")
        connection.close()


@contextmanager
def _sqlite_lock(
    database: str, timeout: float, unless: Unless | None
) -> Iterator[bool]:
    lock = filelock.FileLock(f"{database}.migration-lock")
    deadline = time.monotonic() + timeout
    attempt = 0
    ask_at = 0.0
    freed = False
    while True:
        # Trying a file lock is one system call: try it often, so that a waiter
        # follows the holder at once. Reading the database is dearer, and a
        # reader can hold up the holder's commit: ask ``unless`` as soon as the
        # holder lets go, and otherwise seldom.
        if attempt > 0 and unless is not None and (freed or time.monotonic() >= ask_at):
            if unless(None):
                yield False
                return
            ask_at = time.monotonic() + _seldom()
        try:
            lock.acquire(blocking=False)
        except filelock.Timeout:
            freed = False
        else:
            if attempt == 0 or freed or unless is None:
                break
            # The holder has just let go: ask ``unless`` before holding the lock,
            # so that the other waiters need not queue behind this one.
            lock.release()
            freed = True
            continue
        if time.monotonic() >= deadline:
            raise LockTimeoutError(
                f"The migration lock {lock.lock_file!r} is held by another process, and"
                f" IBUTSU_DB_LOCK_TIMEOUT ({timeout:g} s) has passed. Wait for it to finish,"
                " or raise IBUTSU_DB_LOCK_TIMEOUT."
            )
        if attempt == 0:
            log.info("Waiting for the migration lock %r, held by another process", lock.lock_file)
            ask_at = time.monotonic() + _seldom()
        time.sleep(FILE_LOCK_POLL_INTERVAL * random.uniform(0.5, 1.0))
        attempt += 1
    try:
        yield True
    finally:
        lock.release()


@contextmanager
def migration_lock(
    engine: Engine,
    timeout: float,
    name: str = LOCK_NAME,
    *,
    unless: Unless | None = None,
) -> Iterator[bool]:
    """Hold the migration lock of ``engine``'s database for the ``with`` block.

    While another process holds it, ``unless`` is asked between polls whether
    the lock is still needed (say, the other process brought the database to
    head); if not, the block runs without the lock and gets ``False``. On
    PostgreSQL ``unless`` gets the waiter's own autocommit connection to read
    on, so that it need not open another; ``None`` elsewhere.

    :param timeout: seconds to wait for another holder before giving up.
    :raises LockTimeoutError: when the lock stays taken past ``timeout``.
    """
    acquired = (
        _process_lock.acquire(timeout=timeout) if timeout > 0 else _process_lock.acquire(False)
    )
    if not acquired:
        raise LockTimeoutError(
            f"Another thread of this process held the migration lock past {timeout:g} s."
        )
    try:
        dialect = engine.dialect.name
        database = engine.url.database
        if dialect == "postgresql":
            with _postgresql_lock(engine, timeout, advisory_key(name), unless) as held:
                yield held
        elif dialect == "sqlite" and database and "memory" not in database:
            with _sqlite_lock(database, timeout, unless) as held:
                yield held
        else:
            yield True
    finally:
        _process_lock.release()
