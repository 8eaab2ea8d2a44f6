"""Databases as the last pre-Alembic Ibutsu release (meta version 9) left them.

A support module for the tests, not a test file. Everything is built with raw
SQL DDL in the legacy shape, never from the models and never by a migration:

- the twelve core tables, with the legacy differences from the baseline
  revision: ``runs.start_time``, ``runs.created``, ``results.start_time``,
  ``artifacts.upload_date``, ``users.is_superadmin`` and ``users.is_active``
  nullable; ``imports.created`` nullable; the foreign keys
  ``dashboards_project_id_fkey`` and ``projects_default_dashboard_id_fkey``
  (the baseline names them ``fk_dashboards_project_id`` and
  ``fk_project_default_dashboard``); ``import_files.import_id`` without
  ``ON DELETE CASCADE``;
- on PostgreSQL, the three GIN indexes legacy upgrade 2 made (some legacy
  databases lost them and are still legacy version 9);
- ``meta`` (``key`` text primary key, ``value`` text, index ``ix_meta_key``)
  holding ``('version', '9')``.

Types are ``uuid``/``jsonb`` on PostgreSQL and ``CHAR(32)``/``JSON`` on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

import sqlite_transactions as sqlite_support

LAST_LEGACY_VERSION = "9"

TYPES = {
    "postgresql": {
        "uuid": "UUID", "text": "TEXT", "json": "JSONB", "bool": "BOOLEAN", "int": "INTEGER",
        "ts": "TIMESTAMP WITHOUT TIME ZONE", "float": "DOUBLE PRECISION", "bytes": "BYTEA",
    },
    "sqlite": {
        "uuid": "CHAR(32)", "text": "TEXT", "json": "JSON", "bool": "BOOLEAN", "int": "INTEGER",
        "ts": "DATETIME", "float": "FLOAT", "bytes": "BLOB",
    },
}

# The core tables in creation order. Each column is "name:kind", then "!" when
# NOT NULL and "*" when it has the btree index ix_<table>_<name>; "id" is the
# primary key. The legacy differences are the columns *without* "!" here that
# the baseline revision makes NOT NULL.
CORE_TABLES = {
    "groups": "id:uuid! name:text* data:json",
    "users": (
        "id:uuid! email:text! _password:text name:text activation_code:text"
        " is_superadmin:bool is_active:bool group_id:uuid*"
    ),
    "projects": (
        "id:uuid! name:text* title:text* owner_id:uuid* group_id:uuid* default_dashboard_id:uuid"
    ),
    "dashboards": (
        "id:uuid! title:text* description:text filters:text project_id:uuid* user_id:uuid*"
    ),
    "widget_configs": (
        "id:uuid! project_id:uuid* dashboard_id:uuid* title:text* type:text* widget:text*"
        " weight:int* params:json navigable:bool*"
    ),
    "imports": "id:uuid! filename:text* format:text* data:json status:text* created:ts*",
    "import_files": "id:uuid! import_id:uuid!* content:bytes",
    "runs": (
        "id:uuid! project_id:uuid* data:json summary:json env:text* component:text*"
        " source:text* start_time:ts* created:ts* duration:float*"
    ),
    "results": (
        "id:uuid! project_id:uuid* run_id:uuid* test_id:text* result:text* source:text*"
        " env:text* component:text* data:json params:json duration:float* start_time:ts*"
    ),
    "artifacts": (
        "id:uuid! content:bytes result_id:uuid* run_id:uuid* filename:text* data:json"
        " upload_date:ts*"
    ),
    "tokens": "id:uuid! name:text! token:text! expires:ts user_id:uuid*",
    "users_projects": "user_id:uuid! project_id:uuid!",
}

# (table, column) -> referred table. Every constraint is named
# <table>_<column>_fkey, as PostgreSQL named them for create_all.
FOREIGN_KEYS = {
    ("users", "group_id"): "groups",
    ("projects", "owner_id"): "users",
    ("projects", "group_id"): "groups",
    ("projects", "default_dashboard_id"): "dashboards",
    ("dashboards", "project_id"): "projects",
    ("dashboards", "user_id"): "users",
    ("widget_configs", "project_id"): "projects",
    ("widget_configs", "dashboard_id"): "dashboards",
    ("import_files", "import_id"): "imports",
    ("runs", "project_id"): "projects",
    ("results", "project_id"): "projects",
    ("results", "run_id"): "runs",
    ("artifacts", "result_id"): "results",
    ("artifacts", "run_id"): "runs",
    ("tokens", "user_id"): "users",
    ("users_projects", "user_id"): "users",
    ("users_projects", "project_id"): "projects",
}

# Made by legacy upgrade 2 on PostgreSQL: name -> (table, expression).
LEGACY_GIN_INDEXES = {
    "ix_runs_tags": ("runs", "(data -> 'tags')"),
    "ix_results_tags": ("results", "(data -> 'tags')"),
    "ix_results_requirements": ("results", "(data -> 'requirements')"),
}

# The Report Builder tables that legacy upgrade 8 dropped.
REPORT_TABLES = {
    "reports": (
        "id:uuid! filename:text* mimetype:text* url:text download_url:text view_url:text"
        " parameters:json created:ts* status:text* data:json"
    ),
    "report_files": "id:uuid! report_id:uuid* filename:text* data:json content:bytes",
}


def _columns(spec: str) -> list[tuple[str, str, bool, bool]]:
    """Parse a column spec into (name, kind, not null, indexed)."""
    parsed = []
    for item in spec.split():
        name, marked = item.split(":")
        kind = marked.rstrip("!*")
        flags = marked[len(kind):]
        parsed.append((name, kind, "!" in flags, "*" in flags))
    return parsed


def legacy_ddl(
    dialect: str,
    *,
    version: str | None | Sequence[str] = LAST_LEGACY_VERSION,
    missing_column: tuple[str, str] | None = None,
    changed_columns: Mapping[tuple[str, str], str | None] | None = None,
    with_reports: bool = False,
    owner_id_text: bool = False,
    gin_indexes: bool = True,
) -> list[str]:
    """The statements that build a legacy database, in order.

    :param dialect: ``"postgresql"`` or ``"sqlite"``.
    :param version: the value of meta's ``version`` row; ``None`` for no row;
        a sequence for several rows, in which case ``meta`` has no primary key
        (the only way two rows with the same key can exist).
    :param missing_column: a ``(table, column)`` left out, with its index and
        foreign key, as when a legacy upgrade failed silently.
    :param changed_columns: ``(table, column)`` -> the column's kind, with
        ``"!"`` for NOT NULL, as in :data:`CORE_TABLES` (its index and foreign
        key are kept), or ``None`` to leave it out as ``missing_column`` does.
    :param with_reports: keep the ``reports`` and ``report_files`` tables that
        legacy upgrade 8 should have dropped.
    :param owner_id_text: leave ``projects.owner_id`` as text, without its
        foreign key, as when legacy upgrade 6 did not run.
    :param gin_indexes: on PostgreSQL, build the GIN indexes of legacy upgrade
        2; without them, the database is one that lost them.
    """
    types = TYPES[dialect]
    postgresql = dialect == "postgresql"
    tables = dict(CORE_TABLES)
    foreign_keys = dict(FOREIGN_KEYS)
    if with_reports:
        tables.update(REPORT_TABLES)
        foreign_keys[("report_files", "report_id")] = "reports"
    if owner_id_text:
        del foreign_keys[("projects", "owner_id")]
    changed = dict(changed_columns or {})
    if missing_column is not None:
        changed[missing_column] = None
    for column, changed_to in changed.items():
        if changed_to is None:
            foreign_keys.pop(column, None)
    # PostgreSQL needs the table a constraint refers to, so the projects ->
    # dashboards reference is added once dashboards exists; SQLite takes it inline.
    deferred = {("projects", "default_dashboard_id")} if postgresql else set()

    statements: list[str] = []
    indexes: list[str] = []
    for table, spec in tables.items():
        lines = []
        for name, kind, not_null, indexed in _columns(spec):
            if (table, name) in changed:
                changed_to = changed[(table, name)]
                if changed_to is None:
                    continue
                kind = changed_to.rstrip("!")
                not_null = changed_to.endswith("!")
            if owner_id_text and (table, name) == ("projects", "owner_id"):
                kind = "text"
            sql_type = types[kind]
            lines.append(f"{name} {sql_type}{' NOT NULL' if not_null else ''}")
            if indexed:
                indexes.append(f"CREATE INDEX ix_{table}_{name} ON {table} ({name})")
        keys = "user_id, project_id" if table == "users_projects" else "id"
        lines.append(f"CONSTRAINT {table}_pkey PRIMARY KEY ({keys})")
        for (fk_table, column), referred in foreign_keys.items():
            if fk_table == table and (table, column) not in deferred:
                lines.append(
                    f"CONSTRAINT {table}_{column}_fkey FOREIGN KEY ({column})"
                    f" REFERENCES {referred} (id)"
                )
        statements.append(f"CREATE TABLE {table} (\n    " + ",\n    ".join(lines) + "\n)")
        if table == "dashboards":
            statements += [
                f"ALTER TABLE {fk_table} ADD CONSTRAINT {fk_table}_{column}_fkey"
                f" FOREIGN KEY ({column}) REFERENCES {foreign_keys[(fk_table, column)]} (id)"
                for fk_table, column in sorted(deferred)
            ]
    statements += indexes
    statements.append("CREATE UNIQUE INDEX ix_users_email ON users (email)")
    if postgresql and gin_indexes:
        statements += [
            f"CREATE INDEX {name} ON {table} USING gin ({expression})"
            for name, (table, expression) in LEGACY_GIN_INDEXES.items()
        ]

    several = version is not None and not isinstance(version, str)
    primary_key = "" if several else " PRIMARY KEY"
    statements.append(f"CREATE TABLE meta (key TEXT NOT NULL{primary_key}, value TEXT)")
    statements.append("CREATE INDEX ix_meta_key ON meta (key)")
    values: Sequence[str] = (
        () if version is None else [version] if isinstance(version, str) else version
    )
    statements += [
        "INSERT INTO meta (key, value) VALUES ('version', '{}')".format(value.replace("'", "''"))
        for value in values
    ]
    return statements


def _engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    sqlite_support.make_transactional(engine)
    return engine


def build_legacy_database(url: str, **options: Any) -> None:
    """Build a legacy database on the empty database at ``url``, in one transaction.

    :param options: the variants of :func:`legacy_ddl`.
    """
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            for statement in legacy_ddl(engine.dialect.name, **options):
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class LegacySample:
    """Ids and values of the rows :func:`insert_sample_rows` wrote."""

    user_id: str = "4b1d6f0e-2f1a-4c59-9d0e-6f7a8b9c0d1e"
    project_id: str = "0c3e2a71-6d8b-4f0a-9b35-1e2d3c4b5a69"
    run_id: str = "7f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"
    result_id: str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
    import_id: str = "d4c3b2a1-0f9e-4d8c-b7a6-5e4d3c2b1a0f"
    import_file_id: str = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
    project_name: str = "insights-qe"
    run_summary: tuple[tuple[str, int], ...] = (
        ("tests", 10), ("passes", 7), ("failures", 2), ("errors", 0), ("skips", 1),
    )
    #: floor(passes * 100 / tests)
    pass_percent: int = 70
    result_data: tuple[tuple[str, Any], ...] = (
        ("tags", ["smoke", "ui"]),
        ("jenkins", {"job_name": "nightly", "build_number": "42"}),
        ("assignee", "someone"),
    )
    import_content: bytes = b"<testsuites/>"


def insert_sample_rows(url: str) -> LegacySample:
    """Insert a user, a project, a run, a result with JSON data, an import whose
    ``created`` is NULL (legal before revision 53994db980f1) and one of its files.
    """
    sample = LegacySample()
    rows: list[tuple[str, dict[str, Any]]] = [
        (
            (
                "INSERT INTO users (id, email, name, is_superadmin, is_active)"
                " VALUES (:id, 'someone@example.com', 'Some One', :false, NULL)"
            ),
            {"id": sample.user_id, "false": False},
        ),
        (
            (
                "INSERT INTO projects (id, name, title, owner_id)"
                " VALUES (:id, :name, 'Insights QE', :owner)"
            ),
            {"id": sample.project_id, "name": sample.project_name, "owner": sample.user_id},
        ),
        (
            (
                "INSERT INTO runs (id, project_id, summary, env, component, start_time, created)"
                " VALUES (:id, :project, :summary, 'prod', 'api', :time, :time)"
            ),
            {
                "id": sample.run_id,
                "project": sample.project_id,
                "summary": json.dumps(dict(sample.run_summary)),
                "time": "2024-05-01 12:00:00.000000",
            },
        ),
        (
            (
                "INSERT INTO results (id, project_id, run_id, test_id, result, data, duration,"
                " start_time) VALUES (:id, :project, :run, :test, 'passed', :data, 1.5, :time)"
            ),
            {
                "id": sample.result_id,
                "test": "test_login",
                "project": sample.project_id,
                "run": sample.run_id,
                "data": json.dumps(dict(sample.result_data)),
                "time": "2024-05-01 12:00:01.000000",
            },
        ),
        (
            (
                "INSERT INTO imports (id, filename, format, status, created)"
                " VALUES (:id, 'results.xml', 'junit', 'done', NULL)"
            ),
            {"id": sample.import_id},
        ),
        (
            "INSERT INTO import_files (id, import_id, content) VALUES (:id, :import_id, :content)",
            {
                "id": sample.import_file_id,
                "import_id": sample.import_id,
                "content": sample.import_content,
            },
        ),
    ]
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            for statement, parameters in rows:
                connection.execute(sa.text(statement), parameters)
    finally:
        engine.dispose()
    return sample
