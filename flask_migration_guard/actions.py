"""Changing a database under the migration lock: upgrade, stamp, downgrade.

Every action takes the lock, inspects the database again under it (another
process may have done the work), and hands Alembic a connection of its own
through ``config.attributes["connection"]``. Each revision runs in its own
transaction and is logged with its duration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from flask_migration_guard.connect import unprepared, wait_for_database
from flask_migration_guard.errors import (
    GuardConfigError,
    LockLostError,
    MigrationFailedError,
    MigrationInterruptedError,
    database_reason,
)
from flask_migration_guard.heads import read_message
from flask_migration_guard.naming import DEFAULT_NAMES, Names
from flask_migration_guard.progress import RevisionBar, RevisionLogger
from flask_migration_guard.refusals import raise_if_refused
from flask_migration_guard.retry import poll
from flask_migration_guard.scripts import Scripts, alembic_config
from flask_migration_guard.signals import Interrupted, stopped_by_signals
from flask_migration_guard.sqlite import transactional_ddl
from flask_migration_guard.state import (
    DatabaseState,
    LegacyDetector,
    StateName,
    is_at_head,
    inspect_database,
    version_query,
)

if TYPE_CHECKING:
    # The lock (and filelock) is loaded when something is migrated, not at every boot.
    from flask_migration_guard.lock import Hold, Unless

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runner:
    """What every action needs: the database, the scripts and the limits.

    :ivar lock_timeout: seconds to wait for the migration lock.
    :ivar ddl_lock_timeout: PostgreSQL ``lock_timeout`` for migration statements, seconds.
    :ivar names: the lock's, the version table's and the commands' names.
    :ivar wait_timeout: seconds :meth:`wait_for_database` waits for the database to answer.
    :ivar x_arguments: what ``-x`` gives env.py, for one command.
    """

    engine: Engine
    scripts: Scripts
    legacy_detector: LegacyDetector | None = None
    lock_timeout: float = 300.0
    ddl_lock_timeout: float = 30.0
    names: Names = DEFAULT_NAMES
    wait_timeout: float = 0.0
    x_arguments: tuple[str, ...] = ()

    def wait_for_database(self, deadline: float | None = None) -> None:
        """Return once the database answers, retrying until ``deadline`` (a
        ``time.monotonic()`` value; :attr:`wait_timeout` from now by default).

        :raises DatabaseUnavailableError: when it does not.
        """
        if deadline is None:
            deadline = time.monotonic() + self.wait_timeout
        wait_for_database(self.engine, deadline, self.names)

    def inspect(self, attempts: int = 5) -> DatabaseState:
        """Read the database's state on a short-lived connection.

        Outside the lock another process may be migrating, and a table seen a
        moment ago can be gone by the next statement (the legacy ``meta`` table,
        say); and a pooled connection may have been closed by the server while
        idle. Such a read is simply taken again.
        """
        failures: list[sa.exc.DBAPIError] = []

        def read() -> DatabaseState | None:
            try:
                with self._reading_connection() as connection:
                    return inspect_database(
                        connection, self.scripts, self.legacy_detector, self.names
                    )
            except sa.exc.DBAPIError as exc:
                if len(failures) + 1 >= attempts:
                    raise
                # A pooled connection the server has since closed (an idle timeout),
                # or a table another process dropped a moment ago: read again.
                log.debug("Reading the database failed (%s); reading again", database_reason(exc))
                failures.append(exc)
                return None

        state = poll(read, deadline=float("inf"), first=0.05, factor=2.0, cap=0.4)
        assert state is not None  # read() returns a state, or raises on its last attempt
        return state

    @contextmanager
    def _reading_connection(self) -> Iterator[Connection]:
        """A connection for reads; on PostgreSQL in autocommit, so that a process that
        polls while another migrates never sits inside a transaction, not even between
        a read and its rollback, holding locks the migration's DDL would wait for. The
        reads, repeated by wait mode and the health endpoint, are never prepared."""
        with self.engine.connect() as connection, unprepared(connection):
            if connection.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    def applied_history(self) -> list[dict[str, Any]]:
        """The schema history's rows, oldest first; none when the database has none."""
        from flask_migration_guard.history import read_history

        with self._reading_connection() as connection:
            return read_history(connection, self.names)

    def edited_revisions(self) -> tuple[str, ...]:
        """The applied revisions whose files changed since they ran, by the schema
        history's checksums; none when the database has no history."""
        from flask_migration_guard.history import applied_revisions, edited

        with self._reading_connection() as connection:
            applied = applied_revisions(connection, self.names)
        return edited(applied, self.scripts.checksums) if applied else ()

    def at_head(self, connection: Connection | None = None) -> bool:
        """Whether the version table holds exactly the script heads: one query, no catalog.

        The cheap test waiting processes repeat; anything unexpected counts as "no".

        :param connection: an autocommit connection to read on; a new one by default.
        """
        heads = self.scripts.heads
        query = version_query(self.names)
        try:
            if connection is not None:
                current = [row[0] for row in connection.execute(query)]
            else:
                with self._reading_connection() as reading:
                    current = [row[0] for row in reading.execute(query)]
        except sa.exc.DBAPIError:
            return False
        return is_at_head(current, heads)

    def _at_head_state(self) -> DatabaseState:
        """The state :meth:`at_head` has just seen: the version table holds the one head."""
        heads = self.scripts.heads
        return DatabaseState(StateName.AT_HEAD, heads, heads)

    @contextmanager
    def _migration_connection(self, given: Connection | None = None) -> Iterator[Connection]:
        """``given`` (the lock holder's connection), or a new one, set up for migrating."""
        with ExitStack() as stack:
            if given is None:
                given = stack.enter_context(self.engine.connect())
            connection = given
            stack.enter_context(transactional_ddl(connection))
            postgresql = connection.dialect.name == "postgresql"
            if postgresql:
                timeout_ms = int(self.ddl_lock_timeout * 1000)
                connection.exec_driver_sql(f"SET lock_timeout = {timeout_ms}")
                connection.commit()
            try:
                yield connection
            finally:
                try:
                    if connection.in_transaction():
                        connection.rollback()
                    if postgresql and not connection.invalidated:
                        connection.exec_driver_sql("RESET lock_timeout")
                        connection.commit()
                except (sa.exc.DBAPIError, LockLostError):
                    # The session is gone or not ours: nothing of it to restore.
                    log.debug("Could not restore the migration connection", exc_info=True)

    def run(
        self,
        action: Callable[..., Any],
        *args: Any,
        connection: Connection | None = None,
        logger: RevisionLogger | None = None,
        read_only: bool = False,
        **kwargs: Any,
    ) -> None:
        """Run an ``alembic.command`` function on ``connection`` (the lock holder's), or
        on a connection of its own; ``logger`` notes each revision done.

        :param read_only: for commands that only read (current, history, heads,
            check): no version table is created, and on PostgreSQL the
            transaction is read-only.
        """
        with self._migration_connection(connection) as connection:
            if read_only and connection.dialect.name == "postgresql":
                connection.execution_options(postgresql_readonly=True)
            config = alembic_config(self.scripts.directory, self.x_arguments)
            config.attributes["connection"] = connection
            logger = logger or RevisionLogger()
            hooks: list[Any] = [logger]
            recording: AbstractContextManager[None] = nullcontext()
            if not read_only:
                from flask_migration_guard.history import HistoryRecorder

                recorder = HistoryRecorder(self.names, self.scripts.checksums)
                hooks.append(recorder)
                recording = recorder.riding_along(connection)
            config.attributes["on_version_apply"] = hooks
            config.attributes["read_only"] = read_only
            config.attributes["version_table"] = self.names.version_table
            config.attributes["version_table_schema"] = self.names.version_table_schema
            with recording, logger.confirming(connection):
                action(config, *args, **kwargs)

    @contextmanager
    def _migrating(self, unless: Unless | None = None) -> Iterator[tuple[Hold, list[str]]]:
        """Hold the lock, with SIGTERM and SIGINT stopping the block; gives the hold and
        the signals received. A signal that comes while waiting for the lock ends it
        with a guard error."""
        from flask_migration_guard.lock import migration_lock

        with stopped_by_signals() as received:
            try:
                with migration_lock(
                    self.engine, self.lock_timeout, self.names, unless=unless
                ) as held:
                    yield held, received
            except Interrupted as exc:
                raise self._failure(exc, None, (), received) from exc

    def upgrade(
        self, target: str = "heads", tag: str | None = None, bar: TextIO | None = None
    ) -> DatabaseState:
        """Bring the database to ``target`` under the lock, stamping a proven legacy baseline.

        SIGTERM or SIGINT stops it cleanly (see :mod:`flask_migration_guard.signals`).

        :raises RefusedStateError: when the database must not be touched.
        :raises MigrationFailedError: when a revision fails.
        :raises MigrationInterruptedError: when a signal stopped it.

        :param tag: Alembic's ``--tag``, for env.py.
        :param bar: a terminal to show the progress on, as a bar, instead of the log.
        """
        to_head = target in ("head", "heads")
        if to_head and self.at_head():
            return self._at_head_state()
        unless = self.at_head if to_head else None
        with self._migrating(unless) as (held, received):
            # Not held: ``unless`` saw the head. Held: read again, since it was not at head.
            state = self.inspect() if held else self._at_head_state()
            if state.servable and to_head:
                if state.at_head:
                    log.info("Another process brought the database to head while this one waited")
                return state
            raise_if_refused(state, self.names)
            # Imported under the lock: a process that waits, and then finds the database
            # at head, never pays for it, and reaches the lock as soon as it can.
            from alembic import command

            planned = state.pending if to_head else ()
            shown = None
            if bar is not None and planned:
                directory = self.scripts.directory
                shown = RevisionBar(len(planned), lambda r: read_message(directory, r), bar)
            logger = RevisionLogger(planned, shown)
            legacy = state.legacy if state.name is StateName.LEGACY else None
            try:
                with logger.running():
                    if legacy is not None:
                        log.info(
                            "Legacy database (version %s) proven: stamping baseline %s",
                            legacy.version,
                            legacy.baseline,
                        )
                        self.run(
                            command.stamp,
                            legacy.baseline,
                            connection=held.connection,
                            logger=logger,
                        )
                    self.run(
                        command.upgrade, target, connection=held.connection, logger=logger, tag=tag
                    )
            except GuardConfigError:
                raise  # env.py disagrees with the guard: nothing ran
            except (Exception, Interrupted) as exc:
                raise self._failure(exc, state, logger.done, received) from exc
            return self.inspect()

    def downgrade(self, target: str, tag: str | None = None) -> DatabaseState:
        """Downgrade to ``target`` under the lock; a signal stops it as it does :meth:`upgrade`."""
        from alembic import command

        with self._migrating() as (held, received):
            try:
                self.run(command.downgrade, target, connection=held.connection, tag=tag)
            except (Exception, Interrupted) as exc:
                raise self._failure(exc, None, (), received) from exc
            return self.inspect()

    def stamp(self, target: str, tag: str | None = None, purge: bool = False) -> DatabaseState:
        """Write ``target`` into the version table under the lock, running nothing;
        ``purge`` empties the table first."""
        from alembic import command

        from flask_migration_guard.lock import migration_lock

        with migration_lock(self.engine, self.lock_timeout, self.names) as held:
            try:
                self.run(command.stamp, target, connection=held.connection, tag=tag, purge=purge)
            except sa.exc.DBAPIError as exc:
                raise self._failure(exc, None, (), []) from exc
            return self.inspect()

    def _failure(
        self,
        exc: Exception | Interrupted,
        before: DatabaseState | None,
        done: tuple[str, ...],
        received: list[str],
    ) -> MigrationFailedError:
        """The error for a run that started at ``before``, finished ``done`` and then
        failed with ``exc``, or was stopped by the signals ``received``.

        Each revision runs in its own transaction, so the database stays at the
        last one done; it is read again to be sure, and when it cannot be read
        (the server went away) that is said instead of hiding the first error.
        """
        planned = before.pending if before is not None else ()
        failed = planned[len(done)] if len(done) < len(planned) else None
        last_good = (done[-1],) if done else (before.current if before is not None else ())
        after: DatabaseState | None = None
        unread = ""
        try:
            after = self.inspect(attempts=1)
        except sa.exc.DBAPIError as read_error:
            unread = (
                f" Its revision could not be read afterwards ({database_reason(read_error)});"
                " each revision runs in its own transaction, so it is at the last one done."
            )
        if after is not None:
            last_good = after.current
            if failed is None and after.pending:
                failed = after.pending[0]
        current = ", ".join(map(repr, last_good)) or "no revision"
        if received:
            during = f"during revision {failed!r}" if failed else "before any revision ran"
            interrupted = MigrationInterruptedError(
                f"Stopped by {received[0]} {during}: its statement was cancelled and its"
                f" transaction rolled back. The database stays at {current}.{unread} The"
                f" migration lock is released. Run {self.names.command_line('upgrade')} to go on.",
                revision=failed,
                last_good=last_good,
                state=after,
            )
            log.error("%s", interrupted.message)
            return interrupted
        error: BaseException = exc
        if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
            error = exc.orig  # the database's words; the statement is in the chained error
        reason = f"{type(error).__name__}: {database_reason(error).rstrip('.')}"
        which = f"Revision {failed!r}" if failed else "The migration"
        return MigrationFailedError(
            f"{which} failed with {reason}."
            f" The database stays at {current}.{unread}{_privilege_hint(error, self.engine)}"
            f" Fix the cause, then run {self.names.command_line('upgrade')}.",
            revision=failed,
            last_good=last_good,
            state=after,
        )


# SQLSTATEs, as psycopg (sqlstate) and psycopg2 (pgcode) report them.
_INSUFFICIENT_PRIVILEGE = "42501"
_READ_ONLY_TRANSACTION = "25006"


def _privilege_hint(error: BaseException, engine: Engine) -> str:
    """What to do when the database refuses the change for who or where it is; "" else."""
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if code == _READ_ONLY_TRANSACTION:
        return (
            " The database accepts no writes here (a read-only transaction, or a hot"
            " standby): run the migrations against the primary, as a user that may write."
        )
    if code != _INSUFFICIENT_PRIVILEGE:
        return ""
    user = engine.url.username
    who = f"The user {user!r}" if user else "The connecting user"
    if "for schema" in str(error):
        return (
            f" {who} lacks a privilege the migrations need: expected it to own the schema,"
            " or to hold CREATE on it. Run the migrations as the schema's owner, or grant it,"
            f" e.g. 'GRANT CREATE ON SCHEMA public TO {user or '<user>'}'."
        )
    return (
        f" {who} lacks a privilege the migrations need on the object named above: expected"
        " it to own the schema's tables. Run the migrations as their owner, or grant what is"
        f" missing, e.g. 'GRANT SELECT, INSERT, UPDATE, DELETE ON <table> TO {user or '<user>'}'."
    )
