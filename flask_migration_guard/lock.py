"""The migration lock: one migrating process at a time, per database.

- PostgreSQL: a session-level advisory lock, and the migrations run on the very
  connection that holds it, so lock and work share one server session and end
  together. Unless the server proves that it sees this very TCP connection
  (its client and server address and port are the socket's own), so that no
  pooler stands between, the connection checks before every transaction, and
  every statement outside one, that its session still holds the lock: behind
  a pooler that hands out server sessions per transaction (PgBouncer in
  transaction mode) a migration stops before its next statement instead of
  running unlocked, and a lock left on a pooled session is ended with that
  session.
  The lock is taken with ``pg_try_advisory_lock``, never twice by one server
  session (a pooled session another client locked counts as taken), polled
  with jitter up to the timeout:
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
import ipaddress
import logging
import os
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from flask_migration_guard.connect import prepare_nothing, unprepared
from flask_migration_guard.errors import (
    DatabaseUnavailableError,
    LockLostError,
    LockTimeoutError,
    ReadOnlyDatabaseError,
    database_reason,
)
from flask_migration_guard.naming import DEFAULT_NAMES, Names
from flask_migration_guard.settings import LOCK_TIMEOUT, MODE
from flask_migration_guard.sqlite import in_memory

log = logging.getLogger(__name__)

#: Asked between polls whether the lock is still needed; gets a connection it may read on.
Unless = Callable[[Optional[Connection]], bool]

_process_lock = threading.Lock()


def advisory_key(name: str) -> int:
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
#: SQLSTATE read_only_sql_transaction: a hot standby, or default_transaction_read_only.
_READ_ONLY_SQL_TRANSACTION = "25006"


# pg_locks rows of the migration lock in this database, granted (pg_locks shows a bigint
# advisory key split in two).
_OUR_LOCK = (
    "locktype = 'advisory' AND granted AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND classid = ((%(key)s >> 32) & 4294967295)::oid AND objid = (%(key)s & 4294967295)::oid"
)
# The migration lock held by the backend {pid}.
_HELD_BY = f"SELECT 1 FROM pg_locks WHERE {_OUR_LOCK} AND pid = {{pid}}"
# Take the lock unless this server session already holds it: a fresh client session
# that does is shared with another client by a pooler, and must not count as a holder.
_TRY_LOCK = (
    "SELECT CASE WHEN EXISTS ({held}) THEN NULL ELSE pg_try_advisory_lock(%(key)s) END,"
    " pg_backend_pid()"
).format(held=_HELD_BY.format(pid="pg_backend_pid()"))
# Which backend runs this statement, and whether the holder's session still holds the lock.
_CHECK = "SELECT pg_backend_pid(), EXISTS ({held})".format(held=_HELD_BY.format(pid="%(pid)s"))
_END_LEFT_LOCK = "SELECT pg_terminate_backend(%(pid)s) WHERE EXISTS ({held})".format(
    held=_HELD_BY.format(pid="%(pid)s")
)


#: Seconds within which the server ends the lock holder's session once its client is
#: gone: a running statement whose client closed its socket, an idle session whose
#: client host vanished (TCP keepalives), a transaction left idle by a frozen client.
SESSION_BOUND = 60
# Set on the holder's session where the server has the setting (older servers lack some).
_BOUND_SESSION = (
    "SELECT set_config(name, value, false) FROM (VALUES"
    " ('client_connection_check_interval', '5s'),"
    " ('tcp_keepalives_idle', '10'), ('tcp_keepalives_interval', '5'),"
    " ('tcp_keepalives_count', '3'),"
    f" ('idle_in_transaction_session_timeout', '{SESSION_BOUND}s')"
    ") AS wanted (name, value) JOIN pg_settings USING (name)"
)


#: The holder's watchdog asks the server, on a connection of its own, this often (s)...
PROBE_INTERVAL = 10.0
#: ... and takes the path to the server for cut when no answer comes within this (s).
PROBE_TIMEOUT = 20.0


def _shut_down(descriptor: int) -> None:
    """Shut a connection's socket down, so that a call blocked on it returns at once."""
    try:
        with socket.socket(fileno=os.dup(descriptor)) as cut:
            cut.shutdown(socket.SHUT_RDWR)
    except OSError:
        log.debug("Could not shut a socket down", exc_info=True)


@contextmanager
def _answered_within(connection: Connection | None, seconds: float) -> Iterator[None]:
    """Shut ``connection``'s socket down if the block still waits after ``seconds``.

    For a waiter's short queries, whose path may go silent: the query then fails
    with a lost connection, which the waiter knows how to handle.
    """
    if connection is None or _lost(connection):
        yield  # the query will fail at once: nothing to bound
        return
    raw: Any = connection.connection.dbapi_connection
    timer = threading.Timer(seconds, _shut_down, args=(raw.fileno(),))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class _Watchdog:
    """Stops a migration whose path to the server has gone silent.

    A middlebox that keeps acknowledging (a frozen proxy) defeats TCP keepalives,
    and the migrating connection would wait for its reply forever. While the lock
    is held, a thread asks the server ``SELECT 1`` every :data:`PROBE_INTERVAL`
    seconds on a connection of its own; if no answer comes within
    :data:`PROBE_TIMEOUT`, it shuts the holder's socket down, so that the
    migration fails at once (its server session then ends within
    :data:`SESSION_BOUND` of its last statement).
    """

    def __init__(self, engine: Engine, holder: Connection) -> None:
        self.engine = engine
        self.socket = holder.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
        self.stopped = threading.Event()
        self.thread = threading.Thread(
            target=self._watch, name="migration-lock-watchdog", daemon=True
        )
        self.thread.start()

    def _probe(self, answered: threading.Event) -> None:
        try:
            with self.engine.connect() as connection, unprepared(connection):
                connection.exec_driver_sql("SELECT 1")
            answered.set()
        except Exception:  # no answer is what the watchdog looks for
            log.debug("The watchdog's probe failed", exc_info=True)

    def _watch(self) -> None:
        while not self.stopped.wait(PROBE_INTERVAL):
            answered = threading.Event()
            threading.Thread(target=self._probe, args=(answered,), daemon=True).start()
            if answered.wait(PROBE_TIMEOUT) or self.stopped.is_set():
                continue
            log.error(
                "The database has not answered for %g s (a network partition, or a proxy"
                " that stopped forwarding): stopping the migration; its server session ends"
                " on the server's own limits",
                PROBE_TIMEOUT,
            )
            _shut_down(self.socket)
            return

    def stop(self) -> None:
        self.stopped.set()


@dataclass(frozen=True)
class Hold:
    """What :func:`migration_lock` gives its ``with`` block; true when the lock is held.

    :ivar connection: on PostgreSQL, the connection whose session holds the lock:
        the migrations must run on it. ``None`` elsewhere.
    """

    held: bool
    connection: Connection | None = None

    def __bool__(self) -> bool:
        return self.held


def _raw_query(connection: Connection, sql: str, params: dict[str, Any]) -> Any:
    """One row of ``sql`` run on the driver's own cursor, unseen by SQLAlchemy's events."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return cursor.fetchone()
    finally:
        cursor.close()


class _SessionCheck:
    """Stops a migration whose connection no longer runs in the session holding the lock.

    Installed as ``before_cursor_execute`` on the holder's connection. A
    transaction is checked once, by its first statement (behind a pooler the
    check and the rest of the transaction share one server session); outside a
    transaction every statement is checked.
    """

    def __init__(self, key: int, pid: int, upgrade: str) -> None:
        self.key = key
        self.pid = pid
        self.upgrade = upgrade  # the command that goes on, for the message

    def __call__(self, connection: Connection, *_: Any) -> None:
        raw: Any = connection.connection.dbapi_connection
        autocommit = bool(getattr(raw, "autocommit", False))
        status = getattr(getattr(raw, "info", None), "transaction_status", 0)
        if not autocommit and int(status) != 0:
            return  # inside a transaction whose first statement was checked
        try:
            backend, held = _raw_query(connection, _CHECK, {"key": self.key, "pid": self.pid})
        except Exception as exc:
            raise LockLostError(
                "The connection holding the migration lock failed before the next migration"
                f" statement: {database_reason(exc)}. No statement ran without the lock."
            ) from exc
        if held and (autocommit or backend == self.pid):
            return
        if held:
            found = (
                f"this statement would run in backend pid {backend}, while the lock is"
                f" held by backend pid {self.pid}: a connection pooler hands out server"
                " sessions per transaction (PgBouncer pool_mode = transaction or statement)"
            )
        else:
            found = (
                f"the session that held it (backend pid {self.pid}) no longer does: it was"
                " ended (idle_session_timeout, a proxy's idle timeout, an administrator)"
            )
        raise LockLostError(
            f"Lost the migration lock: {found}. The migration stopped before its next"
            " statement. Expected one server session for the whole migration: give the"
            " migrating process a direct URL to PostgreSQL or a session-mode pool, then"
            f" run {self.upgrade} again."
        )


# The four ends of this session's connection, as the server sees them; NULL on a Unix socket.
_ENDPOINTS = (
    "SELECT host(inet_client_addr()), inet_client_port(),"
    " host(inet_server_addr()), inet_server_port()"
)


def _endpoint(address: Any, port: Any) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """An address and port in one form, IPv4 addresses mapped into IPv6 unmapped."""
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed, int(port)


def _direct(connection: Connection) -> bool:
    """Whether the server sees this very TCP connection, so no pooler stands between.

    Both ends must match: the client address and port the server sees are the
    socket's own, and the server's address and port are the socket's peer. One
    host has one TCP connection per such pair of ends, so a pooler or a NAT
    cannot pass; a Unix socket, which the server cannot name this way, is never
    taken for direct.
    """
    raw: Any = connection.connection.dbapi_connection
    try:
        with socket.socket(fileno=os.dup(raw.fileno())) as ours:
            if ours.family not in (socket.AF_INET, socket.AF_INET6):
                return False
            local, peer = ours.getsockname(), ours.getpeername()
    except (AttributeError, OSError):
        return False
    client, client_port, server, server_port = _raw_query(connection, _ENDPOINTS, {})
    if client is None or server is None:
        return False
    return (_endpoint(client, client_port), _endpoint(server, server_port)) == (
        _endpoint(*local[:2]),
        _endpoint(*peer[:2]),
    )


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


def _listening_connection(engine: Engine, names: Names) -> Connection:
    """An autocommit connection listening for the holder's release notice.

    :raises ReadOnlyDatabaseError: on a hot standby or a read-only session, where
        no migration could run either.
    """
    connection = _autocommit_connection(engine)
    # Its polls repeat, and it never goes back to the pool: it prepares nothing.
    prepare_nothing(connection)
    try:
        connection.exec_driver_sql(f"LISTEN {names.channel}")
    except sa.exc.DBAPIError as exc:
        connection.close()
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if code != _READ_ONLY_SQL_TRANSACTION:
            raise
        url = engine.url
        raise ReadOnlyDatabaseError(
            f"Database {url.database!r} on host {url.host or 'localhost'!r} accepts no"
            f" writes ({database_reason(exc)}): a hot standby, or a read-only session."
            f" Expected the primary in upgrade mode: point {names.url_setting} at the"
            f" primary to migrate, or use {names.key(MODE)}=check or wait on a standby."
        ) from exc
    return connection


def _holder_row(connection: Connection, key: int) -> dict[str, Any] | None:
    """Who holds the advisory lock: backend pid, application name, client address."""
    row = connection.exec_driver_sql(
        "SELECT pid, application_name, host(client_addr) AS client_addr"
        f" FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE {_OUR_LOCK}",
        {"key": key},
    ).first()
    return dict(row._mapping) if row is not None else None


def _holder(connection: Connection, key: int) -> str:
    """Describe who holds the advisory lock, for the timeout message."""
    row = _holder_row(connection, key)
    if row is None:
        return "a session that has since ended"
    client = row["client_addr"] or "a local socket"
    return f"backend pid {row['pid']} ({row['application_name'] or 'unnamed'}, from {client})"


def lock_holder(engine: Engine, names: Names = DEFAULT_NAMES) -> dict[str, Any] | None:
    """Who holds the migration lock of ``engine``'s database, as data: its backend pid,
    application name and client address; ``None`` when nobody does, and always on SQLite,
    whose file lock tells no holder without being taken."""
    if engine.dialect.name != "postgresql":
        return None
    with _autocommit_connection(engine) as connection:
        return _holder_row(connection, advisory_key(names.lock))


def _autocommit_connection(engine: Engine) -> Connection:
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _lost(connection: Connection) -> bool:
    """Whether ``connection`` can no longer be used: SQLAlchemy or the driver says so."""
    if connection.invalidated:
        return True
    raw: Any = connection.connection.dbapi_connection
    return bool(getattr(raw, "broken", False) or getattr(raw, "closed", False))


def _discard(connection: Connection) -> None:
    """Close ``connection`` without talking to the server, which may be gone."""
    if not connection.invalidated:
        connection.invalidate()
    connection.close()


def _warn_lost(reason: str) -> None:
    log.warning(
        "Lost the database connection while waiting for the migration lock (%s); reconnecting",
        reason,
    )


def _try_lock(connection: Connection, key: int) -> int | None:
    """Take the lock on ``connection``'s session: its backend pid, or ``None`` if taken."""
    locked, pid = connection.exec_driver_sql(_TRY_LOCK, {"key": key}).one()
    if locked is None:
        log.warning(
            "This connection's server session already holds the migration lock for another"
            " client: a connection pooler shares server sessions (PgBouncer pool_mode ="
            " transaction or statement). Waiting; to migrate, use a direct URL or a"
            " session-mode pool"
        )
    return int(pid) if locked else None


def _acquire_advisory(
    engine: Engine, timeout: float, names: Names, unless: Unless | None
) -> tuple[Connection, int] | None:
    """Poll for the advisory lock up to ``timeout``; return the connection that holds it
    and its backend pid.

    Between polls ``unless`` may say the lock is no longer needed: then ``None``.

    A waiter that loses its connection (the server restarted, say) has lost
    nothing, since it held no lock: it connects again and polls on, within the
    same deadline.
    """
    deadline = time.monotonic() + timeout
    key = advisory_key(names.lock)
    timeout_key = names.key(LOCK_TIMEOUT)
    connection: Connection | None = _listening_connection(engine, names)
    lost = ""
    attempt = 0
    try:
        while True:
            if attempt > 0 and unless is not None:
                with _answered_within(connection, PROBE_TIMEOUT):
                    needless = unless(connection)
                if needless:
                    # Woken (or polled) after the holder finished: no need to take the lock.
                    if connection is not None:
                        _discard(connection)  # it LISTENs: not for the app's pool
                    return None
                if connection is not None and _lost(connection):
                    lost = "the server closed the connection"
                    _warn_lost(lost)
                    _discard(connection)
                    connection = None
            if connection is None:
                try:
                    connection = _listening_connection(engine, names)
                except sa.exc.DBAPIError as exc:
                    lost = database_reason(exc)
            if connection is not None:
                try:
                    with _answered_within(connection, PROBE_TIMEOUT):
                        pid = _try_lock(connection, key)
                    if pid is not None:
                        return connection, pid
                except sa.exc.DBAPIError as exc:
                    if not (exc.connection_invalidated or _lost(connection)):
                        raise
                    lost = database_reason(exc)
                    _warn_lost(lost)
                    _discard(connection)
                    connection = None
            if time.monotonic() >= deadline:
                if connection is None:
                    url = engine.url
                    raise DatabaseUnavailableError(
                        f"Lost the connection to database {url.database!r} on host"
                        f" {url.host or 'localhost'!r} while waiting for the migration lock,"
                        f" and {timeout_key} ({timeout:g} s) passed before it came"
                        f" back: {lost}. Check that the server runs, or raise {timeout_key}.",
                        url=url.render_as_string(hide_password=True),
                    )
                raise LockTimeoutError(
                    f"The migration lock is held by {_holder(connection, key)}, and"
                    f" {timeout_key} ({timeout:g} s) has passed. Another process"
                    f" is probably migrating: wait for it, or raise {timeout_key}."
                )
            if attempt == 0:
                log.info("Waiting for the migration lock, held by another process")
            _wait_for_release(connection, attempt, deadline)
            attempt += 1
    except BaseException:
        if connection is not None:
            _discard(connection)
        raise


def _release(connection: Connection, key: int, pid: int, channel: str) -> None:
    """Unlock, announce the release, and end a session that kept the lock anyway.

    Behind a transaction-mode pooler the unlock may reach another server session
    than the one holding the lock; that session is then ended, so that no lock
    stays behind on a pooled connection.
    """
    if connection.invalidated:
        return  # the session, and the lock with it, is gone
    connection.rollback()
    connection.execution_options(isolation_level="AUTOCOMMIT")
    # Only in the session that took it: behind a pooler this statement may reach a
    # session where another client holds the lock, and must not release theirs.
    connection.exec_driver_sql(
        "SELECT CASE WHEN pg_backend_pid() = %(pid)s THEN pg_advisory_unlock(%(key)s) END",
        {"key": key, "pid": pid},
    )
    if connection.exec_driver_sql(_END_LEFT_LOCK, {"key": key, "pid": pid}).first():
        log.warning(
            "The migration lock stayed on server session %s after the unlock (a pooler in"
            " transaction mode); that session was ended to release it",
            pid,
        )
    connection.exec_driver_sql(f"NOTIFY {channel}")


@contextmanager
def _postgresql_lock(
    engine: Engine, timeout: float, names: Names, unless: Unless | None
) -> Iterator[Hold]:
    key = advisory_key(names.lock)
    acquired = _acquire_advisory(engine, timeout, names, unless)
    if acquired is None:
        yield Hold(False)
        return
    connection, pid = acquired
    check = _SessionCheck(key, pid, names.command_line("upgrade"))
    try:
        connection.exec_driver_sql("UNLISTEN *")
        connection.exec_driver_sql(_BOUND_SESSION)
        direct = _direct(connection)
        connection.commit()
        connection.execution_options(isolation_level=connection.default_isolation_level)
        if direct:
            log.debug("The lock's connection reaches the server directly: no session checks")
        else:
            sa.event.listen(connection, "before_cursor_execute", check)
        watchdog = _Watchdog(engine, connection)
        try:
            yield Hold(True, connection)
        finally:
            watchdog.stop()
    finally:
        if sa.event.contains(connection, "before_cursor_execute", check):
            sa.event.remove(connection, "before_cursor_execute", check)
        try:
            _release(connection, key, pid, names.channel)
        except Exception:
            log.warning("Could not release the migration lock; its session will end it")
        # The session's settings for the migration must not reach the app through the pool.
        _discard(connection)


@contextmanager
def _sqlite_lock(
    database: str, timeout: float, names: Names, unless: Unless | None
) -> Iterator[Hold]:
    import filelock  # SQLite's lock alone: a migration of PostgreSQL never imports it

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
                yield Hold(False)
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
                f" {names.key(LOCK_TIMEOUT)} ({timeout:g} s) has passed. Wait for it to"
                f" finish, or raise {names.key(LOCK_TIMEOUT)}."
            )
        if attempt == 0:
            log.info("Waiting for the migration lock %r, held by another process", lock.lock_file)
            ask_at = time.monotonic() + _seldom()
        time.sleep(FILE_LOCK_POLL_INTERVAL * random.uniform(0.5, 1.0))
        attempt += 1
    try:
        yield Hold(True)
    finally:
        lock.release()


@contextmanager
def migration_lock(
    engine: Engine,
    timeout: float,
    names: Names = DEFAULT_NAMES,
    *,
    unless: Unless | None = None,
) -> Iterator[Hold]:
    """Hold the migration lock of ``engine``'s database for the ``with`` block.

    The block gets a :class:`Hold`; on PostgreSQL its ``connection`` holds the
    lock, and the migrations must run on it. While another process holds the
    lock, ``unless`` is asked between polls whether it is still needed (say,
    the other process brought the database to head); if not, the block runs
    without the lock and gets a false :class:`Hold`. On PostgreSQL ``unless``
    gets the waiter's own autocommit connection to read on, so that it need not
    open another; ``None`` elsewhere.

    :param timeout: seconds to wait for another holder before giving up.
    :param names: the lock's name and release channel, and the keys messages name.
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
            with _postgresql_lock(engine, timeout, names, unless) as held:
                yield held
        elif dialect == "sqlite" and database and not in_memory(engine):
            with _sqlite_lock(database, timeout, names, unless) as held:
                yield held
        else:
            yield Hold(True)
    finally:
        _process_lock.release()
