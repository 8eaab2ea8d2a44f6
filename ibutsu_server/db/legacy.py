"""Recognising a database built by Ibutsu Server before Alembic.

Those releases ran ``create_all`` plus numbered hand-written upgrades at every
start, and kept their level in ``meta`` (key ``version``). The last level,
reached by every release from 2.8.4 on, is 9. The marker is a claim, not a
proof (some upgrades could fail silently), so the schema is checked too
before the baseline revision is stamped.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ibutsu_server.guard.state import LegacyFinding

BASELINE_REVISION = "cacecc4f1237"
META_TABLE = "meta"
LAST_LEGACY_VERSION = 9

CORE_TABLES = (
    "groups",
    "users",
    "projects",
    "dashboards",
    "widget_configs",
    "imports",
    "import_files",
    "runs",
    "results",
    "artifacts",
    "tokens",
    "users_projects",
)
DROPPED_TABLES = ("reports", "report_files")

# Columns added by legacy upgrades 1, 3, 4, 5 and 7.
UPGRADED_COLUMNS = {
    "widget_configs": ("dashboard_id",),
    "artifacts": ("run_id",),
    "users": ("is_superadmin", "is_active", "activation_code"),
    "projects": ("default_dashboard_id",),
    "imports": ("created",),
}


def _version_rows(connection: Connection) -> list[str | None]:
    rows = connection.execute(sa.text("SELECT value FROM meta WHERE key = 'version'"))
    return [row[0] for row in rows]


def _schema_problems(connection: Connection, tables: Sequence[str]) -> list[str]:
    inspector = sa.inspect(connection)
    problems = [f"table {name!r} is missing" for name in CORE_TABLES if name not in tables]
    problems += [
        f"table {name!r} should have been dropped by legacy upgrade 8"
        for name in DROPPED_TABLES
        if name in tables
    ]
    for table, columns in UPGRADED_COLUMNS.items():
        if table not in tables:
            continue
        present = {column["name"] for column in inspector.get_columns(table)}
        problems += [
            f"column {table}.{column} is missing" for column in columns if column not in present
        ]
    if "projects" in tables:
        owner = {c["name"]: c for c in inspector.get_columns("projects")}.get("owner_id")
        if owner is not None and isinstance(owner["type"], sa.Text):
            problems.append("projects.owner_id is text, not uuid (legacy upgrade 6 did not run)")
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
            None, BASELINE_REVISION, too_old=True, problems=("meta has no version row",)
        )
    if len(rows) > 1:
        found = ", ".join(repr(row) for row in rows)
        problem = f"meta has {len(rows)} version rows ({found}) where one is expected"
        return LegacyFinding(found, BASELINE_REVISION, problems=(problem,))
    version = rows[0]
    if version is None or not version.strip().isdigit():
        return LegacyFinding(
            version, BASELINE_REVISION, too_old=True, problems=("the version is not a number",)
        )
    if int(version) < LAST_LEGACY_VERSION:
        return LegacyFinding(
            version,
            BASELINE_REVISION,
            too_old=True,
            problems=(f"version {version} is below {LAST_LEGACY_VERSION}, the last legacy level",),
        )
    return LegacyFinding(
        version, BASELINE_REVISION, problems=tuple(_schema_problems(connection, tables))
    )
