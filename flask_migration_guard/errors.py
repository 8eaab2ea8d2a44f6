"""The guard's errors: one base class, each error carrying what it saw.

Messages say what was found, what was expected and the command that fixes it.
URLs in messages are always rendered without their password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from flask_migration_guard.state import DatabaseState


def database_reason(exc: BaseException) -> str:
    """The first line of what the database (or its driver) said, without SQLAlchemy's
    statement and link; the exception's class name when it said nothing."""
    said = getattr(exc, "orig", None) or exc
    lines = str(said).strip().splitlines()
    return lines[0] if lines else type(said).__name__


class GuardError(click.ClickException):
    """Base class of every error the migration guard raises.

    A click exception, as Flask's own "no app" error is: when the ``flask`` command
    meets one while loading the app, it prints ``Error: <message>`` and exits with
    the error's code, without a traceback.

    :ivar message: what was found, what was expected, and the fix.
    :ivar state: the database state the guard saw, when it got that far.
    """

    #: Exit code of ``flask`` commands that end with this error.
    exit_code = 1

    def __init__(self, message: str, state: DatabaseState | None = None) -> None:
        super().__init__(message)
        self.state = state


class GuardConfigError(GuardError):
    """A setting has a value the guard cannot use.

    :ivar key: the setting's name.
    :ivar value: the value found; a URL's password is masked.
    """

    exit_code = 2

    def __init__(self, key: str, value: object, expected: str, reason: str = "") -> None:
        because = f" ({reason})" if reason else ""
        super().__init__(f"{key} must be {expected}; got {value!r}{because}.")
        self.key = key
        self.value = value


class BrokenScriptsError(GuardError):
    """A revision file of the script directory cannot be read or imported.

    :ivar directory: the script directory.
    """

    exit_code = 2

    def __init__(self, directory: str, error: BaseException) -> None:
        where = getattr(error, "filename", None) or "a revision file"
        line = getattr(error, "lineno", None)
        at = f" line {line}" if line else ""
        reason = getattr(error, "msg", None) or getattr(error, "reason", None) or error
        super().__init__(
            f"Cannot load the migration scripts in {directory!r}: {where}{at}:"
            f" {type(error).__name__}: {reason}. Expected every file in versions/ to be"
            " a revision Alembic can import, in UTF-8: fix that file, or move it out of"
            " versions/ if it is not a revision."
        )
        self.directory = directory


class DatabaseUnavailableError(GuardError):
    """The database could not be reached within the wait timeout.

    :ivar url: the database URL, password masked.
    """

    exit_code = 2

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class NotUpToDateError(GuardError):
    """The database is empty, behind or legacy, and this mode does not upgrade it.

    An upgrade would fix it: the guard's ``upgrade`` command.
    """

    exit_code = 3


class RefusedStateError(GuardError):
    """The database is in a state no automatic action may touch."""

    exit_code = 4


class UnknownRevisionError(RefusedStateError):
    """``alembic_version`` names a revision the scripts do not know (the app is older)."""


class BrokenVersionTableError(RefusedStateError):
    """``alembic_version`` is empty, or its rows are not a valid set of heads."""


class UnversionedDatabaseError(RefusedStateError):
    """Application tables without ``alembic_version`` and without legacy markers."""


class LegacyTooOldError(RefusedStateError):
    """A legacy database whose version is too old, missing or not a number."""


class LegacyUnprovenError(RefusedStateError):
    """A legacy database whose schema does not pass the baseline checks."""


class MultipleHeadsError(RefusedStateError):
    """The script directory has several heads: a merge revision is missing."""


class EditedRevisionError(RefusedStateError):
    """Revision files changed after they were applied, and the settings refuse that."""


class LockTimeoutError(GuardError):
    """Another process held the migration lock for longer than the lock timeout."""

    exit_code = 2


class ReadOnlyDatabaseError(GuardError):
    """Upgrade mode met a database that accepts no writes (a hot standby)."""

    exit_code = 2


class LockLostError(GuardError):
    """The database session holding the migration lock is gone, or is no longer this
    connection's: the migration stops before its next statement."""

    exit_code = 1


class MigrationFailedError(GuardError):
    """A revision failed; the database stays at the last good revision.

    :ivar revision: the revision that failed.
    :ivar last_good: the database's heads after the failure.
    """

    def __init__(
        self,
        message: str,
        revision: str | None,
        last_good: tuple[str, ...],
        state: DatabaseState | None = None,
    ) -> None:
        super().__init__(message, state)
        self.revision = revision
        self.last_good = last_good


class MigrationInterruptedError(MigrationFailedError):
    """A signal (SIGTERM, SIGINT) stopped the migration; the database stays at the last
    good revision, and the lock is released."""
