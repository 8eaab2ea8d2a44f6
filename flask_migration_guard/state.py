"""What state a database is in, relative to a script directory.

:func:`inspect_database` reads; it never writes, and it ends its transaction
before returning, so no lock taken by a read outlives it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from flask_migration_guard.naming import DEFAULT_NAMES, Names

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from flask_migration_guard.scripts import Scripts


class StateName(str, enum.Enum):
    """The states the guard tells apart."""

    AT_HEAD = "at_head"
    AHEAD_COMPATIBLE = "ahead_compatible"
    EMPTY = "empty"
    BEHIND = "behind"
    LEGACY = "legacy"
    LEGACY_TOO_OLD = "legacy_too_old"
    LEGACY_UNPROVEN = "legacy_unproven"
    UNVERSIONED = "unversioned"
    UNKNOWN_REVISION = "unknown_revision"
    BROKEN_VERSION_TABLE = "broken_version_table"
    MULTIPLE_SCRIPT_HEADS = "multiple_script_heads"

    def __str__(self) -> str:
        return self.value


#: States an upgrade fixes.
UPGRADABLE = frozenset({StateName.EMPTY, StateName.BEHIND, StateName.LEGACY})


@dataclass(frozen=True)
class LegacyFinding:
    """What a legacy detector found in a database without ``alembic_version``.

    :ivar version: the legacy version marker as found, if any.
    :ivar baseline: the revision a proven legacy database is stamped with.
    :ivar too_old: the marker is missing, not a number, or too old to stamp.
    :ivar problems: why the schema does not prove the claim; empty when proven.
    :ivar fix: what to do when the database is refused, in the application's words;
        the guard's generic advice when empty.
    """

    version: str | None
    baseline: str
    too_old: bool = False
    problems: tuple[str, ...] = ()
    fix: str = ""

    @property
    def proven(self) -> bool:
        return not self.too_old and not self.problems


#: A hook that looks for legacy markers; ``None`` means "not a legacy database".
LegacyDetector = Callable[["Connection", Sequence[str]], "LegacyFinding | None"]


@dataclass(frozen=True)
class DatabaseState:
    """A database's migration state.

    :ivar name: the state.
    :ivar current: the revisions in ``alembic_version`` (empty when absent).
    :ivar head: the script directory's heads.
    :ivar pending: revisions an upgrade would apply, in order.
    :ivar detail: what was found, in words, for messages.
    :ivar ahead: the revisions the database is ahead of the code by, oldest first, as
        the schema history records them; empty when it is not known to be ahead.
    """

    name: StateName
    current: tuple[str, ...]
    head: tuple[str, ...]
    pending: tuple[str, ...] = ()
    detail: str = ""
    legacy: LegacyFinding | None = field(default=None, compare=False)
    ahead: tuple[str, ...] = ()

    @property
    def at_head(self) -> bool:
        return self.name is StateName.AT_HEAD

    @property
    def servable(self) -> bool:
        """Whether this code may serve the database: at head, or ahead of it by revisions
        that all declare themselves backward compatible."""
        return self.name in (StateName.AT_HEAD, StateName.AHEAD_COMPATIBLE)

    @property
    def upgradable(self) -> bool:
        return self.name in UPGRADABLE

    def as_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data: state, current, head, pending."""
        return {
            "state": self.name.value,
            "current": list(self.current),
            "head": list(self.head),
            "pending": list(self.pending),
        }


def is_at_head(rows: Sequence[str], heads: Sequence[str]) -> bool:
    """The guard's one test for "at head": ``alembic_version`` holds the scripts' single
    head, once."""
    return len(heads) == 1 and list(rows) == list(heads)


def version_query(names: Names) -> sa.TextClause:
    """The query for the rows of the version table."""
    return sa.text(f"SELECT version_num FROM {names.qualified_version_table}")


def _table_names(connection: Connection, names: Names) -> list[str]:
    """The tables beside the version table, the guard's schema history left out."""
    tables = sa.inspect(connection).get_table_names(schema=names.version_table_schema)
    return [table for table in tables if table != names.history_table]


def _version_rows(connection: Connection, names: Names) -> list[str] | None:
    """The rows of the version table, or ``None`` when there is no such table.

    Reading first and looking at the catalog only on failure keeps the common
    case, a database at head, to one query.
    """
    try:
        return [row[0] for row in connection.execute(version_query(names))]
    except sa.exc.DBAPIError:
        connection.rollback()
        if names.version_table in _table_names(connection, names):
            raise
        return None


def _classify_versioned(rows: list[str], scripts: Scripts, table: str) -> DatabaseState:
    head = scripts.heads
    current = tuple(rows)
    abbreviated = {rev: scripts.resolve(rev) for rev in rows if not scripts.is_known(rev)}
    if any(abbreviated.values()):
        shown = ", ".join(
            f"{rev!r} (short for {full!r})" for rev, full in abbreviated.items() if full
        )
        return DatabaseState(
            StateName.BROKEN_VERSION_TABLE,
            current,
            head,
            detail=f"{table} holds {shown}: an abbreviated id, not a full revision id",
        )
    unknown = list(abbreviated)
    if unknown:
        return DatabaseState(
            StateName.UNKNOWN_REVISION,
            current,
            head,
            detail=f"{table} holds {', '.join(map(repr, unknown))}, which the scripts"
            " do not know: the database is ahead of this code, or from another project",
        )
    if not rows or len(set(rows)) != len(rows) or not scripts.are_independent(rows):
        found = ", ".join(map(repr, rows)) if rows else "no rows"
        return DatabaseState(
            StateName.BROKEN_VERSION_TABLE,
            current,
            head,
            detail=f"{table} holds {found}, which is not a valid set of heads",
        )
    return DatabaseState(
        StateName.BEHIND, current, head, pending=scripts.pending(current)
    )


def _against_history(connection: Connection, state: DatabaseState, names: Names) -> DatabaseState:
    """An unknown revision, looked up in the schema history: ``ahead_compatible`` when
    every revision between the code's head and the database is recorded as backward
    compatible; still ``unknown_revision`` otherwise, saying what the history knows."""
    from flask_migration_guard import history

    applied = history.applied_revisions(connection, names)
    ahead = history.ahead_of(state.current, state.head, applied)
    if ahead is None:
        return state
    listed = ", ".join(ahead.revisions)
    if ahead.first_incompatible is None:
        return DatabaseState(
            StateName.AHEAD_COMPATIBLE,
            state.current,
            state.head,
            detail=f"the database is ahead of this code by {listed}, each recorded in"
            f" {names.history_table} as backward compatible",
            ahead=ahead.revisions,
        )
    return DatabaseState(
        StateName.UNKNOWN_REVISION,
        state.current,
        state.head,
        detail=f"{names.qualified_version_table} holds"
        f" {', '.join(map(repr, state.current))}, ahead of this code by {listed} as"
        f" {names.history_table} records; {ahead.first_incompatible!r} is not backward"
        " compatible",
        ahead=ahead.revisions,
    )


def _classify_unversioned(
    connection: Connection,
    tables: list[str],
    scripts: Scripts,
    legacy_detector: LegacyDetector | None,
    table: str,
) -> DatabaseState:
    head = scripts.heads
    if not tables:
        return DatabaseState(StateName.EMPTY, (), head, pending=scripts.pending(()))
    finding = legacy_detector(connection, tables) if legacy_detector else None
    if finding is None:
        shown = ", ".join(map(repr, sorted(tables)[:5])) + (", ..." if len(tables) > 5 else "")
        return DatabaseState(
            StateName.UNVERSIONED,
            (),
            head,
            detail=f"tables ({shown}) but no {table} and no legacy version marker",
        )
    if finding.too_old:
        return DatabaseState(
            StateName.LEGACY_TOO_OLD,
            (),
            head,
            detail=f"legacy version {finding.version!r}; "
            + ("; ".join(finding.problems) or "too old to stamp"),
            legacy=finding,
        )
    if finding.problems:
        return DatabaseState(
            StateName.LEGACY_UNPROVEN,
            (),
            head,
            detail=f"legacy version {finding.version!r}, but the schema does not match: "
            + "; ".join(finding.problems),
            legacy=finding,
        )
    return DatabaseState(
        StateName.LEGACY,
        (),
        head,
        pending=(finding.baseline, *scripts.pending((finding.baseline,))),
        detail=f"legacy version {finding.version!r}, schema proven;"
        f" baseline {finding.baseline} will be stamped",
        legacy=finding,
    )


def inspect_database(
    connection: Connection,
    scripts: Scripts,
    legacy_detector: LegacyDetector | None = None,
    names: Names = DEFAULT_NAMES,
) -> DatabaseState:
    """Read a database's migration state.

    :param connection: a connection outside any transaction; it is left so.
    :param scripts: the script directory to compare with.
    :param legacy_detector: the application's hook for pre-Alembic databases.
    :param names: where the version table is.
    """
    try:
        heads = scripts.heads
        if len(heads) > 1:
            return DatabaseState(
                StateName.MULTIPLE_SCRIPT_HEADS,
                (),
                heads,
                detail=f"the script directory {scripts.directory!r} has several heads,"
                f" {', '.join(map(repr, heads))}",
            )
        table = names.qualified_version_table
        rows = _version_rows(connection, names)
        if rows is not None:
            if is_at_head(rows, heads):
                return DatabaseState(StateName.AT_HEAD, tuple(rows), heads)
            if not rows and _table_names(connection, names) == [names.version_table]:
                # What 'alembic downgrade base' leaves behind: an empty database.
                return DatabaseState(StateName.EMPTY, (), heads, pending=scripts.pending(()))
            state = _classify_versioned(rows, scripts, table)
            if state.name is StateName.UNKNOWN_REVISION:
                state = _against_history(connection, state, names)
            return state
        tables = _table_names(connection, names)
        return _classify_unversioned(connection, tables, scripts, legacy_detector, table)
    finally:
        if connection.in_transaction():
            connection.rollback()
