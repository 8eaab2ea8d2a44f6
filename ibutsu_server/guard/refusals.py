"""From a database state to the error a mode raises, with the command that fixes it."""

from __future__ import annotations

from ibutsu_server.guard.errors import (
    BrokenVersionTableError,
    GuardError,
    LegacyTooOldError,
    LegacyUnprovenError,
    MultipleHeadsError,
    NotUpToDateError,
    RefusedStateError,
    UnknownRevisionError,
    UnversionedDatabaseError,
)
from ibutsu_server.guard.state import DatabaseState, StateName

NOT_UP_TO_DATE = "Target database is not up to date"


def _revisions(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "none"


def _not_up_to_date(state: DatabaseState) -> NotUpToDateError:
    found = {
        StateName.EMPTY: "the database is empty",
        StateName.BEHIND: f"the database is at {_revisions(state.current)}",
        StateName.LEGACY: f"the database predates Alembic ({state.detail})",
    }[state.name]
    return NotUpToDateError(
        f"{NOT_UP_TO_DATE}: {found}; the scripts' head is {_revisions(state.head)};"
        f" {len(state.pending)} pending: {_revisions(state.pending)}."
        " Run 'flask --app ibutsu_server db upgrade',"
        " or set IBUTSU_DB_MIGRATE=upgrade to migrate at startup.",
        state,
    )


_REFUSALS: dict[StateName, tuple[type[RefusedStateError], str]] = {
    StateName.UNKNOWN_REVISION: (
        UnknownRevisionError,
        (
            "Deploy the code that has this revision, or downgrade the database with that"
            " code ('flask db downgrade <revision>') before rolling back."
        ),
    ),
    StateName.BROKEN_VERSION_TABLE: (
        BrokenVersionTableError,
        (
            "Check the schema by hand, then record the right revision with"
            " 'flask db stamp <revision>'."
        ),
    ),
    StateName.UNVERSIONED: (
        UnversionedDatabaseError,
        (
            "Point SQLALCHEMY_DATABASE_URI at an empty or migrated database; if this schema"
            " is known to match a revision, record it with 'flask db stamp <revision>'."
        ),
    ),
    StateName.LEGACY_TOO_OLD: (
        LegacyTooOldError,
        (
            "Upgrade it with the last pre-Alembic release (2.8.x) until meta.version is 9,"
            " then start this version again."
        ),
    ),
    StateName.LEGACY_UNPROVEN: (
        LegacyUnprovenError,
        (
            "Repair the schema so that it matches the legacy release, or restore a backup;"
            " after checking by hand, 'flask db stamp cacecc4f1237' then 'flask db upgrade'."
        ),
    ),
    StateName.MULTIPLE_SCRIPT_HEADS: (
        MultipleHeadsError,
        "Merge them with 'alembic merge heads -m \"merge\"' and deploy the merge revision.",
    ),
}


def refusal(state: DatabaseState) -> RefusedStateError | None:
    """The error for a state no mode may act on, or ``None``."""
    if state.name not in _REFUSALS:
        return None
    error_class, fix = _REFUSALS[state.name]
    if state.name is StateName.MULTIPLE_SCRIPT_HEADS:
        expected = "Expected a database at the single head of the scripts"
    else:
        heads = ", ".join(map(repr, state.head)) or "no revision"
        expected = (
            f"Expected a database at {heads}, one behind it, an empty one"
            " or a proven legacy one"
        )
    return error_class(
        f"Refusing to use the database ({state.name.value}): {state.detail}. {expected}. {fix}",
        state,
    )


def raise_if_refused(state: DatabaseState) -> None:
    """Raise the refusal for ``state``, if it is one."""
    error = refusal(state)
    if error is not None:
        raise error


def error_for(state: DatabaseState) -> GuardError | None:
    """The error ``check`` mode raises for ``state``; ``None`` at head."""
    if state.at_head:
        return None
    return refusal(state) or _not_up_to_date(state)
