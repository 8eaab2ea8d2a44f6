"""From a database state to the error a mode raises, with the command that fixes it."""

from __future__ import annotations

from flask_migration_guard.errors import (
    BrokenVersionTableError,
    EditedRevisionError,
    GuardError,
    LegacyTooOldError,
    LegacyUnprovenError,
    MultipleHeadsError,
    NotUpToDateError,
    RefusedStateError,
    UnknownRevisionError,
    UnversionedDatabaseError,
)
from flask_migration_guard.naming import Names
from flask_migration_guard.settings import EDITED, MODE
from flask_migration_guard.state import DatabaseState, StateName

NOT_UP_TO_DATE = "Target database is not up to date"


#: Revisions a message lists before it says how many more there are.
LISTED = 10


def _revisions(revisions: tuple[str, ...]) -> str:
    if not revisions:
        return "none"
    if len(revisions) <= LISTED:
        return ", ".join(revisions)
    shown = ", ".join(revisions[: LISTED - 1])
    return f"{shown}, ... ({len(revisions) - LISTED} more), {revisions[-1]}"


def _not_up_to_date(state: DatabaseState, names: Names) -> NotUpToDateError:
    found = {
        StateName.EMPTY: "the database is empty",
        StateName.BEHIND: f"the database is at {_revisions(state.current)}",
        StateName.LEGACY: f"the database predates Alembic ({state.detail})",
    }[state.name]
    return NotUpToDateError(
        f"{NOT_UP_TO_DATE}: {found}; the scripts' head is {_revisions(state.head)};"
        f" {len(state.pending)} pending: {_revisions(state.pending)}."
        f" Run {names.command_line('upgrade')},"
        f" or set {names.key(MODE)}=upgrade to migrate at startup.",
        state,
    )


def _fix(state: DatabaseState, names: Names) -> str:
    """The command or step that gets a refused ``state`` going, in the app's own words."""
    if state.legacy is not None and state.legacy.fix:
        return state.legacy.fix
    stamp = names.command_line("stamp <revision>")
    if state.name is StateName.UNKNOWN_REVISION and state.ahead:
        return (
            f"With the newer release (it has these revisions), run"
            f" {names.command_line('downgrade ' + _revisions(state.head))},"
            " then roll back to this one."
        )
    if state.name is StateName.UNKNOWN_REVISION:
        return (
            "Deploy the code that has this revision, or downgrade the database with that"
            f" code ({names.command_line('downgrade <revision>')}) before rolling back."
        )
    if state.name is StateName.BROKEN_VERSION_TABLE:
        return f"Check the schema by hand, then record the right revision with {stamp}."
    if state.name is StateName.UNVERSIONED:
        return (
            f"Point {names.url_setting} at an empty or migrated database; if this schema"
            f" is known to match a revision, record it with {stamp}."
        )
    if state.name is StateName.LEGACY_TOO_OLD:
        return "Upgrade it with the last pre-Alembic release first, then start this version again."
    if state.name is StateName.LEGACY_UNPROVEN:
        baseline = state.legacy.baseline if state.legacy is not None else "<revision>"
        return (
            "Repair the schema so that it matches the legacy release, or restore a backup;"
            f" after checking by hand, {names.command_line('stamp ' + baseline)}"
            f" then {names.command_line('upgrade')}."
        )
    return (  # several script heads
        f"Merge them with {names.command_line('merge heads -m merge')} and deploy the"
        " merge revision."
    )


_ERRORS: dict[StateName, type[RefusedStateError]] = {
    StateName.UNKNOWN_REVISION: UnknownRevisionError,
    StateName.BROKEN_VERSION_TABLE: BrokenVersionTableError,
    StateName.UNVERSIONED: UnversionedDatabaseError,
    StateName.LEGACY_TOO_OLD: LegacyTooOldError,
    StateName.LEGACY_UNPROVEN: LegacyUnprovenError,
    StateName.MULTIPLE_SCRIPT_HEADS: MultipleHeadsError,
}


def refusal(state: DatabaseState, names: Names) -> RefusedStateError | None:
    """The error for a state no mode may act on, or ``None``."""
    if state.name not in _ERRORS:
        return None
    if state.name is StateName.MULTIPLE_SCRIPT_HEADS:
        expected = "Expected a database at the single head of the scripts"
    else:
        heads = ", ".join(map(repr, state.head)) or "no revision"
        expected = (
            f"Expected a database at {heads}, one behind it, an empty one"
            " or a proven legacy one"
        )
    return _ERRORS[state.name](
        f"Refusing to use the database ({state.name.value}): {state.detail}. {expected}."
        f" {_fix(state, names)}",
        state,
    )


def raise_if_refused(state: DatabaseState, names: Names) -> None:
    """Raise the refusal for ``state``, if it is one."""
    error = refusal(state, names)
    if error is not None:
        raise error


def error_for(state: DatabaseState, names: Names) -> GuardError | None:
    """The error ``check`` mode raises for ``state``; ``None`` where it may serve."""
    if state.servable:
        return None
    return refusal(state, names) or _not_up_to_date(state, names)


def edited_message(edited: tuple[str, ...], names: Names) -> str:
    """What a boot says of revision files that changed after they were applied."""
    return (
        f"The revision files of {_revisions(edited)} changed after they were applied to this"
        f" database (their code's checksum differs from {names.history_table}'s): an applied"
        " revision must stay as it ran. Restore the files, and put the change in a new"
        f" revision; {names.key(EDITED)}=refuse refuses such a database, =warn serves it."
    )


def edited_error(edited: tuple[str, ...], names: Names) -> EditedRevisionError:
    """The refusal for edited revision files, under ``EDITED_REVISIONS=refuse``."""
    return EditedRevisionError(f"Refusing to use the database: {edited_message(edited, names)}")
