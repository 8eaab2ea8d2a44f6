"""Recognising a database built by Ibutsu Server before Alembic.

Those releases ran ``create_all`` plus numbered hand-written upgrades at every
start, and kept their level in ``meta`` (key ``version``). The last level,
reached by every release from 2.8.4 on, is 9. The marker is a claim, not a
proof (some upgrades could fail silently, leaving a column out), so the whole
schema is compared with the one those releases left before the baseline
revision is stamped: every table, every column, its type and its nullability.

Types are compared by family (text, uuid, json, timestamp, boolean, integer,
float, binary), so that PostgreSQL's ``uuid``, ``jsonb`` and ``bytea`` and
SQLite's ``CHAR(32)``, ``JSON`` and ``BLOB`` match alike. Indexes and
constraint names are not compared: the legacy GIN indexes may have been lost,
and the later revisions create whatever index is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_migration_guard.state import LegacyFinding

BASELINE_REVISION = "cacecc4f1237"
META_TABLE = "meta"
LAST_LEGACY_VERSION = 9
TOO_OLD_FIX = (
    f"Upgrade it with the last pre-Alembic release (2.8.x) until meta.version is"
    f" {LAST_LEGACY_VERSION}, then start this version again."
)

# The schema at legacy version 9, table by table: "column:family", then "!" for
# NOT NULL, or "?" where either is accepted (nullable in the legacy release,
# NOT NULL from the baseline revision or a later one on).
LEGACY_SCHEMA_SPEC = {
    "groups": "id:uuid! name:text data:json",
    "users": (
        "id:uuid! email:text! _password:text name:text activation_code:text"
        " is_superadmin:boolean? is_active:boolean? group_id:uuid"
    ),
    "projects": (
        "id:uuid! name:text title:text owner_id:uuid group_id:uuid default_dashboard_id:uuid"
    ),
    "dashboards": "id:uuid! title:text description:text filters:text project_id:uuid user_id:uuid",
    "widget_configs": (
        "id:uuid! project_id:uuid dashboard_id:uuid title:text type:text widget:text"
        " weight:integer params:json navigable:boolean"
    ),
    "imports": "id:uuid! filename:text format:text data:json status:text created:timestamp?",
    "import_files": "id:uuid! import_id:uuid! content:binary",
    "runs": (
        "id:uuid! project_id:uuid data:json summary:json env:text component:text source:text"
        " start_time:timestamp? created:timestamp? duration:float"
    ),
    "results": (
        "id:uuid! project_id:uuid run_id:uuid test_id:text result:text source:text env:text"
        " component:text data:json params:json duration:float start_time:timestamp?"
    ),
    "artifacts": (
        "id:uuid! content:binary result_id:uuid run_id:uuid filename:text data:json"
        " upload_date:timestamp?"
    ),
    "tokens": "id:uuid! name:text! token:text! expires:timestamp user_id:uuid",
    "users_projects": "user_id:uuid! project_id:uuid!",
    META_TABLE: "key:text! value:text",
}
DROPPED_TABLES = ("reports", "report_files")

# A reflected type's family: the first class it is an instance of. CHAR comes
# before String: the portable uuid type is CHAR(32) outside PostgreSQL.
TYPE_FAMILIES: tuple[tuple[type[Any], str], ...] = (
    (sa.Uuid, "uuid"),
    (sa.CHAR, "uuid"),
    (sa.JSON, "json"),
    (sa.DateTime, "timestamp"),
    (sa.Boolean, "boolean"),
    (sa.Integer, "integer"),
    (sa.Float, "float"),
    (sa.LargeBinary, "binary"),
    (sa.String, "text"),
)

# Why a column has another type, when the legacy history explains it.
TYPE_HINTS = {("projects", "owner_id"): "legacy upgrade 6 did not run"}


class ExpectedColumn(NamedTuple):
    """One column of the legacy schema: its type family and the nullability accepted."""

    family: str
    nullable: frozenset[bool]


def _parse(spec: str) -> dict[str, ExpectedColumn]:
    columns = {}
    for item in spec.split():
        name, marked = item.split(":")
        family = marked.rstrip("!?")
        flag = marked[len(family):]
        nullable = {"": {True}, "!": {False}, "?": {True, False}}[flag]
        columns[name] = ExpectedColumn(family, frozenset(nullable))
    return columns


LEGACY_SCHEMA: Mapping[str, Mapping[str, ExpectedColumn]] = {
    table: _parse(spec) for table, spec in LEGACY_SCHEMA_SPEC.items()
}


def _version_rows(connection: Connection) -> list[str | None]:
    rows = connection.execute(sa.text("SELECT value FROM meta WHERE key = 'version'"))
    return [row[0] for row in rows]


def _type_family(type_: Any) -> str | None:
    """The family of a reflected column type, ``None`` when it belongs to none."""
    return next((family for cls, family in TYPE_FAMILIES if isinstance(type_, cls)), None)


def _type_name(type_: Any, connection: Connection) -> str:
    try:
        return str(type_.compile(dialect=connection.dialect))
    except sa.exc.SQLAlchemyError:
        return type(type_).__name__


def _nullability(nullable: bool) -> str:
    return "nullable" if nullable else "NOT NULL"


def _column_problems(
    table: str,
    found: Sequence[Mapping[str, Any]],
    expected: Mapping[str, ExpectedColumn],
    connection: Connection,
) -> list[str]:
    problems = []
    by_name = {column["name"]: column for column in found}
    for name, wanted in expected.items():
        column = by_name.get(name)
        if column is None:
            problems.append(f"column {table}.{name} is missing")
            continue
        family = _type_family(column["type"])
        if family != wanted.family:
            shown = _type_name(column["type"], connection)
            hint = TYPE_HINTS.get((table, name))
            problems.append(
                f"column {table}.{name} is {f'{family} ({shown})' if family else shown},"
                f" not {wanted.family}" + (f" ({hint})" if hint else "")
            )
        nullable = bool(column["nullable"])
        if nullable not in wanted.nullable:
            found_null, expected_null = _nullability(nullable), _nullability(not nullable)
            problems.append(f"column {table}.{name} is {found_null}, not {expected_null}")
    problems += [
        f"column {table}.{column['name']} ({_type_name(column['type'], connection)})"
        " is not in the legacy schema"
        for column in found
        if column["name"] not in expected
    ]
    return problems


def _schema_problems(connection: Connection, tables: Sequence[str]) -> list[str]:
    """Every difference between the database and the legacy schema, in schema order."""
    present = set(tables)
    reflected = {
        name: columns
        for (_schema, name), columns in sa.inspect(connection).get_multi_columns().items()
    }
    problems = []
    for table, expected in LEGACY_SCHEMA.items():
        if table not in present:
            problems.append(f"table {table!r} is missing")
            continue
        problems += _column_problems(table, reflected.get(table, []), expected, connection)
    for table in sorted(present - LEGACY_SCHEMA.keys()):
        if table in DROPPED_TABLES:
            problems.append(f"table {table!r} should have been dropped by legacy upgrade 8")
        else:
            problems.append(f"table {table!r} is not in the legacy schema")
    return problems


def detect_legacy(connection: Connection, tables: Sequence[str]) -> LegacyFinding | None:
    """The guard's legacy hook for Ibutsu: ``None`` when there is no ``meta`` table.

    :param connection: a connection to the database being inspected.
    :param tables: the database's table names.
    """
    if META_TABLE not in tables:
        return None
    rows = _version_rows(connection)
    if not rows:
        return LegacyFinding(
            None,
            BASELINE_REVISION,
            too_old=True,
            problems=("meta has no version row",),
            fix=TOO_OLD_FIX,
        )
    if len(rows) > 1:
        found = ", ".join(repr(row) for row in rows)
        problem = f"meta has {len(rows)} version rows ({found}) where one is expected"
        return LegacyFinding(
            found, BASELINE_REVISION, problems=(problem, *_schema_problems(connection, tables))
        )
    version = rows[0]
    if version is None or not version.strip().isdigit():
        return LegacyFinding(
            version,
            BASELINE_REVISION,
            too_old=True,
            problems=("the version is not a number",),
            fix=TOO_OLD_FIX,
        )
    if int(version) < LAST_LEGACY_VERSION:
        return LegacyFinding(
            version,
            BASELINE_REVISION,
            too_old=True,
            problems=(f"version {version} is below {LAST_LEGACY_VERSION}, the last legacy level",),
            fix=TOO_OLD_FIX,
        )
    return LegacyFinding(
        version, BASELINE_REVISION, problems=tuple(_schema_problems(connection, tables))
    )
