"""The schema history: a row for every revision the guard applies or reverts.

Written in the same transaction as the revision itself (on SQLite too, whose
DDL the guard makes transactional), so that the history never disagrees with
the version table. Each row says which revision ran, its parents, the
direction, when, for how long, on which host and process and with which
release, a checksum of the revision file, whether the revision declares itself
backward compatible, and its one-line message.

The table is created by the guard the first time it migrates a database; a
database without it (made by plain Alembic, or before the history existed) is
served exactly as before. The history is what lets old code run on a database
ahead of it: see :func:`ahead_of`.

A revision declares itself backward compatible with a module-level
``backward_compatible = True``: code at the revision's parent runs correctly on
the schema it leaves (it only adds tables, nullable columns or indexes).
"""

from __future__ import annotations

import ast
import functools
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_migration_guard.heads import code_checksum
from flask_migration_guard.naming import Names

#: The module attribute by which a revision declares itself backward compatible.
FLAG = "backward_compatible"
UPGRADE = "upgrade"
DOWNGRADE = "downgrade"


@functools.cache
def history_table(names: Names) -> sa.Table:
    """The history table's definition, beside the version table."""
    return sa.Table(
        names.history_table,
        sa.MetaData(schema=names.version_table_schema),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("revision", sa.String(255), nullable=False),
        sa.Column("parents", sa.String(1024), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("package_version", sa.String(64), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column(FLAG, sa.Boolean, nullable=False),
        sa.Column("message", sa.String(255), nullable=False),
    )


def checksum(source: str) -> str:
    """A checksum of a revision file's code (see :func:`.heads.code_checksum`)."""
    return code_checksum(ast.parse(source))


def file_checksum(path: str) -> str:
    """:func:`checksum` of the file at ``path``; "" when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as source:
            return checksum(source.read())
    except (OSError, SyntaxError, ValueError):
        return ""


def declares_compatible(module: Any) -> bool:
    """Whether a revision module says ``backward_compatible = True``."""
    return getattr(module, FLAG, False) is True


def _package_version(package: str | None) -> str:
    if not package:
        return ""
    from importlib import metadata  # only when migrating: a boot at head needs none

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


class HistoryRecorder:
    """Alembic ``on_version_apply`` hook: writes each revision applied or reverted into
    the history table, inside the revision's own transaction. Stamps run no code, and
    are not recorded.

    On PostgreSQL, once a run has applied one revision, the rows of the next ones ride
    along with Alembic's own write of the version table, as a ``WITH`` clause of that
    statement (see :meth:`riding_along`): a revision then costs no round trip more
    than under plain Alembic. A version write this does not recognise gets the row
    in a statement of its own, as the first revision and every reverted one do.

    :param names: where the table is, and which package's version to record.
    :param checksums: the revision files' checksums where already known, by id; the
        others are read from their files.
    """

    def __init__(self, names: Names, checksums: Mapping[str, str] | None = None) -> None:
        self.table = history_table(names)
        self.insert = self.table.insert()  # one statement: compiled once, not per revision
        self.checksums = checksums or {}
        self.package_version = _package_version(names.package)
        self.host = socket.gethostname()
        self.created = False
        self.started = time.perf_counter()
        table = re.escape(names.qualified_version_table)
        # Alembic's write of an upgrade's revision, which it renders with the id inline.
        self.version_write = re.compile(
            rf"(?:UPDATE {table} SET version_num=|INSERT INTO {table} \(version_num\) VALUES \()"
            r"'(\w+)'"
        )
        self.scripts: Any = None  # Alembic's script directory, once a revision was applied
        self.prefix = ""  # "WITH recorded AS (INSERT ...) ", compiled for the connection
        self.carried = ""  # the revision whose row rode along with the version write

    def _row(self, script: Any, upgrade: bool) -> dict[str, Any]:
        elapsed = (time.perf_counter() - self.started) * 1000
        return dict(
            revision=script.revision,
            parents=" ".join(_ids(script.down_revision)),
            direction=UPGRADE if upgrade else DOWNGRADE,
            applied_at=datetime.now(timezone.utc),
            duration_ms=round(elapsed, 1),
            host=self.host[:255],
            pid=os.getpid(),
            package_version=self.package_version[:64],
            checksum=self.checksums.get(script.revision) or file_checksum(script.path),
            backward_compatible=declares_compatible(script.module),
            message=(script.doc or "").strip().split("\n", 1)[0][:255],
        )

    def __call__(self, *, ctx: Any, step: Any, **_: Any) -> None:
        script = step.up_revision
        connection = ctx.connection
        carried, self.carried = self.carried, ""
        if step.is_stamp or script is None or connection is None:
            self.started = time.perf_counter()
            return
        if carried != script.revision:
            if not self.created:
                self.table.create(connection, checkfirst=True)
                self.created = True
            connection.execute(self.insert, self._row(script, step.is_upgrade))
        # An upgrade goes on upgrading: the next rows may ride along.
        self.scripts = ctx.script if step.is_upgrade else None
        self.started = time.perf_counter()

    def _ride_along(
        self, connection: Connection, _: Any, statement: str, parameters: Any, *__: Any
    ) -> tuple[str, Any]:
        """``before_cursor_execute``: put the revision's row into Alembic's version write."""
        match = self.version_write.match(statement) if self.scripts is not None else None
        if match is None or parameters:
            return statement, parameters
        script = self.scripts.get_revision(match.group(1))
        row = self._row(script, True)
        if not self.prefix:
            compiled = self.insert.compile(dialect=connection.dialect, column_keys=list(row))
            self.prefix = f"WITH recorded AS ({compiled}) "
        self.carried = script.revision
        return self.prefix + statement, row

    @contextmanager
    def riding_along(self, connection: Connection) -> Iterator[None]:
        """Within the block, on PostgreSQL, the rows ride along with the version writes."""
        if connection.dialect.name != "postgresql":
            yield
            return
        sa.event.listen(connection, "before_cursor_execute", self._ride_along, retval=True)
        try:
            yield
        finally:
            sa.event.remove(connection, "before_cursor_execute", self._ride_along)


def _ids(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def has_history(connection: Connection, names: Names) -> bool:
    """Whether the database has the history table: one query, compiled by nobody (a boot
    asks with a new engine, whose statement cache is empty)."""
    if connection.dialect.name == "postgresql":
        found = connection.exec_driver_sql(
            "SELECT to_regclass(%(name)s) IS NOT NULL", {"name": names.qualified_history_table}
        ).scalar()
        return bool(found)
    inspector = sa.inspect(connection)
    return bool(inspector.has_table(names.history_table, schema=names.version_table_schema))


def read_history(connection: Connection, names: Names) -> list[dict[str, Any]]:
    """Every row of the history table, oldest first, typed; none when there is no table."""
    if not has_history(connection, names):
        return []
    table = history_table(names)
    columns = ", ".join(column.name for column in table.columns)
    query = sa.text(f"SELECT {columns} FROM {names.qualified_history_table} ORDER BY id")
    return [dict(row._mapping) for row in connection.execute(query.columns(*table.columns))]


@dataclass(frozen=True)
class Applied:
    """A revision the history says is applied: its parents, its declared compatibility,
    and the checksum of its file when it ran."""

    parents: tuple[str, ...]
    backward_compatible: bool
    checksum: str = ""


def applied_revisions(connection: Connection, names: Names) -> dict[str, Applied]:
    """The revisions applied and not reverted since, by id, as the history records them;
    none when there is no history. Read as plain rows, the few columns it needs."""
    if not has_history(connection, names):
        return {}
    rows = connection.exec_driver_sql(
        f"SELECT revision, parents, direction, {FLAG}, checksum"
        f" FROM {names.qualified_history_table} ORDER BY id"
    )
    applied: dict[str, Applied] = {}
    for revision, parents, direction, compatible, recorded in rows:
        if direction == UPGRADE:
            applied[revision] = Applied(tuple(parents.split()), bool(compatible), recorded)
        else:
            applied.pop(revision, None)
    return applied


@dataclass(frozen=True)
class Ahead:
    """How a database is ahead of the code: the newer revisions, oldest first, and the
    first of them that is not backward compatible, if any."""

    revisions: tuple[str, ...]
    first_incompatible: str | None


def ahead_of(
    current: Iterable[str], heads: Iterable[str], applied: dict[str, Applied]
) -> Ahead | None:
    """The revisions between the code's ``heads`` and the database's ``current`` ones, as
    the history records them; ``None`` when some revision on the way is not recorded, or
    the way does not lead back to the code's heads (the database is not simply ahead)."""
    targets = set(heads)
    newer: list[str] = []
    seen: set[str] = set()
    stack = [revision for revision in current if revision not in targets]
    if not stack:
        return None
    while stack:
        revision = stack.pop()
        if revision in seen or revision in targets:
            continue
        seen.add(revision)
        known = applied.get(revision)
        if known is None or not known.parents:
            return None  # not recorded, or recorded as a base: not ahead of these heads
        newer.append(revision)
        stack.extend(known.parents)
    ordered = tuple(reversed(newer))  # a line of revisions: oldest first
    incompatible = next((r for r in ordered if not applied[r].backward_compatible), None)
    return Ahead(ordered, incompatible)


def edited(applied: dict[str, Applied], checksums: dict[str, str]) -> tuple[str, ...]:
    """The applied revisions whose file's checksum is no longer the one recorded when they
    ran, in the order they were applied; revisions this code has no file of are left out."""
    return tuple(
        revision
        for revision, known in applied.items()
        if known.checksum and checksums.get(revision, known.checksum) != known.checksum
    )
