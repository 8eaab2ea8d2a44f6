"""The six revisions: the chain, the schema they build and the data they move."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from conftest import Migrate
from guard_processes import WAIT, boot, boot_config, wait_until

from ibutsu_server import create_app
from ibutsu_server.db import db
from ibutsu_server.db.autogenerate import MIGRATION_ONLY_INDEXES
from flask_migration_guard import DatabaseState
from flask_migration_guard.appstate import app_guard
from flask_migration_guard.errors import MigrationFailedError

MakeEngine = Callable[[str], sa.Engine]

CHAIN = [
    ("cacecc4f1237", None),
    ("fc3df1d9ee4e", "cacecc4f1237"),
    ("53994db980f1", "fc3df1d9ee4e"),
    ("8cf9148b9ad9", "53994db980f1"),
    ("e5736dbcc0b0", "8cf9148b9ad9"),
    ("d18de2b3253f", "e5736dbcc0b0"),
]

# Each column is "name:kind", then "!" when NOT NULL and "*" when it has the
# btree index ix_<table>_<name>.
HEAD_SCHEMA = {
    "groups": "id:uuid! name:text* data:json",
    "users": (
        "id:uuid! email:text!* _password:text name:text activation_code:text"
        " is_superadmin:bool! is_active:bool! group_id:uuid*"
    ),
    "dashboards": (
        "id:uuid! title:text* description:text filters:text project_id:uuid* user_id:uuid*"
    ),
    "projects": (
        "id:uuid! name:text* title:text* owner_id:uuid* group_id:uuid* default_dashboard_id:uuid"
    ),
    "widget_configs": (
        "id:uuid! project_id:uuid* dashboard_id:uuid* title:text* type:text* widget:text*"
        " weight:int* params:json navigable:bool*"
    ),
    "imports": "id:uuid! filename:text* format:text* data:json status:text* created:ts!*",
    "import_files": "id:uuid! import_id:uuid!* content:bytes",
    "runs": (
        "id:uuid! project_id:uuid* data:json summary:json env:text* component:text* source:text*"
        " start_time:ts!* created:ts!* duration:float*"
    ),
    "results": (
        "id:uuid! project_id:uuid* run_id:uuid* test_id:text* result:text* source:text* env:text*"
        " component:text* data:json params:json duration:float* start_time:ts!*"
    ),
    "artifacts": (
        "id:uuid! content:bytes result_id:uuid* run_id:uuid* filename:text* data:json"
        " upload_date:ts!*"
    ),
    "tokens": "id:uuid! name:text! token:text! expires:ts user_id:uuid*",
    "users_projects": "user_id:uuid! project_id:uuid!",
}
APP_TABLES = frozenset(HEAD_SCHEMA)

TYPE_NAMES = {
    "postgresql": {
        "uuid": "UUID", "text": "TEXT", "json": "JSONB", "bool": "BOOLEAN", "int": "INTEGER",
        "ts": "TIMESTAMP", "float": "DOUBLE PRECISION", "bytes": "BYTEA",
    },
    "sqlite": {
        "uuid": "CHAR(32)", "text": "TEXT", "json": "JSON", "bool": "BOOLEAN", "int": "INTEGER",
        "ts": "DATETIME", "float": "FLOAT", "bytes": "BLOB",
    },
}

# (table, column) -> (referred table, ON DELETE rule, constraint name on PostgreSQL)
HEAD_FOREIGN_KEYS = {
    ("users", "group_id"): ("groups", None, "users_group_id_fkey"),
    ("dashboards", "project_id"): ("projects", None, "fk_dashboards_project_id"),
    ("dashboards", "user_id"): ("users", None, "dashboards_user_id_fkey"),
    ("projects", "owner_id"): ("users", None, "projects_owner_id_fkey"),
    ("projects", "group_id"): ("groups", None, "projects_group_id_fkey"),
    ("projects", "default_dashboard_id"): ("dashboards", None, "fk_project_default_dashboard"),
    ("widget_configs", "project_id"): ("projects", None, "widget_configs_project_id_fkey"),
    ("widget_configs", "dashboard_id"): ("dashboards", None, "widget_configs_dashboard_id_fkey"),
    ("import_files", "import_id"): ("imports", "CASCADE", "import_files_import_id_fkey"),
    ("runs", "project_id"): ("projects", None, "runs_project_id_fkey"),
    ("results", "project_id"): ("projects", None, "results_project_id_fkey"),
    ("results", "run_id"): ("runs", None, "results_run_id_fkey"),
    ("artifacts", "result_id"): ("results", None, "artifacts_result_id_fkey"),
    ("artifacts", "run_id"): ("runs", None, "artifacts_run_id_fkey"),
    ("tokens", "user_id"): ("users", None, "tokens_user_id_fkey"),
    ("users_projects", "user_id"): ("users", None, "users_projects_user_id_fkey"),
    ("users_projects", "project_id"): ("projects", None, "users_projects_project_id_fkey"),
}

SOURCE = "c6fd19a7-858a-4226-8c27-d8fa7ddf6d0c"
TARGET = "3915c900-85fc-1222-833c-10d51af56f2e"
OTHER = "0b6b3a5e-44a4-4a5e-9a34-0d0c3f0b9a11"
TAG = {"project": "insights-qe"}


def _columns(table: str) -> dict[str, tuple[str, bool, bool]]:
    """Parse HEAD_SCHEMA: column -> (kind, nullable, indexed)."""
    parsed = {}
    for item in HEAD_SCHEMA[table].split():
        name, spec = item.split(":")
        parsed[name] = (spec.strip("!*"), "!" not in spec, "*" in spec)
    return parsed


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _version(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert len(rows) <= 1
    return rows[0][0] if rows else None


def _raw(value: Any, sqlite: bool) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if sqlite and isinstance(value, datetime):
        return value.isoformat(" ")
    return value


def _index_names(engine: sa.Engine) -> set[str]:
    inspector = sa.inspect(engine)
    return {
        str(index["name"])
        for table in inspector.get_table_names()
        for index in inspector.get_indexes(table)
    }


def _insert(connection: sa.Connection, table: str, **values: Any) -> None:
    """Insert one row with raw SQL; dicts and lists are sent as JSON text, and datetimes
    as ISO text on SQLite (what its driver's default adapter, deprecated since Python
    3.12, sent)."""
    sqlite = connection.dialect.name == "sqlite"
    params = {key: _raw(value, sqlite) for key, value in values.items()}
    connection.execute(
        sa.text(
            f"INSERT INTO {table} ({', '.join(params)})"
            f" VALUES ({', '.join(':' + key for key in params)})"
        ),
        params,
    )


def _plain(value: Any) -> Any:
    """A column value as a comparable Python value: UUIDs as strings, JSON decoded."""
    if value is None or isinstance(value, (int, float, dict, list, datetime)):
        return value
    text = str(value)
    if text[:1] in "{[":
        return json.loads(text)
    return text


def _rows(engine: sa.Engine, table: str, *columns: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table}")).all()
    return sorted((tuple(_plain(value) for value in row) for row in rows), key=repr)


def _by_id(engine: sa.Engine, table: str, column: str) -> dict[str, Any]:
    return {row[0]: row[1] for row in _rows(engine, table, "id", column)}


def _now() -> datetime:
    return datetime(2026, 1, 2, 3, 4, 5)


def test_revision_chain(alembic_config: Config) -> None:
    """The scripts form one linear chain with exactly the known ids and parents."""
    script = ScriptDirectory.from_config(alembic_config)
    walked = [
        (revision.revision, revision.down_revision)
        for revision in reversed(list(script.walk_revisions("base", "heads")))
    ]
    assert walked == CHAIN
    assert list(script.get_heads()) == ["d18de2b3253f"]
    assert list(script.get_bases()) == ["cacecc4f1237"]
    assert {revision.revision for revision in script.walk_revisions()} == {r for r, _ in CHAIN}


def test_tables_along_the_chain(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """Each revision leaves the right tables; head, base and head again all work."""
    engine = make_engine(empty_url)
    with_meta = APP_TABLES | {"meta", "alembic_version"}
    without_meta = APP_TABLES | {"alembic_version"}
    expected = {"cacecc4f1237": with_meta}
    for revision, _ in CHAIN:
        migrate(empty_url, "upgrade", revision)
        assert _version(engine) == revision
        assert _tables(engine) == expected.get(revision, without_meta)

    migrate(empty_url, "downgrade", "base")
    assert _tables(engine) == {"alembic_version"}
    assert _version(engine) is None

    migrate(empty_url, "upgrade", "head")
    assert _tables(engine) == without_meta
    assert _version(engine) == "d18de2b3253f"


def test_meta_table_at_baseline(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """The baseline builds the legacy meta table with its key index."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "cacecc4f1237")
    inspector = sa.inspect(engine)
    columns = {column["name"]: column["nullable"] for column in inspector.get_columns("meta")}
    assert columns == {"key": False, "value": True}
    assert inspector.get_pk_constraint("meta")["constrained_columns"] == ["key"]
    assert [index["name"] for index in inspector.get_indexes("meta")] == ["ix_meta_key"]


def test_head_columns(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """At head every table has exactly the documented columns, types and nullability."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "head")
    inspector = sa.inspect(engine)
    names = TYPE_NAMES[engine.dialect.name]
    for table in HEAD_SCHEMA:
        found = {
            column["name"]: (str(column["type"]), column["nullable"])
            for column in inspector.get_columns(table)
        }
        expected = {
            name: (names[kind], nullable) for name, (kind, nullable, _) in _columns(table).items()
        }
        assert found == expected, table
    for column in inspector.get_columns("runs"):
        if column["name"] in ("start_time", "created"):
            assert not getattr(column["type"], "timezone", False)


def test_head_primary_keys(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """Every table is keyed on id, except the composite key of users_projects."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "head")
    inspector = sa.inspect(engine)
    for table in HEAD_SCHEMA:
        key = inspector.get_pk_constraint(table)
        expected = ["user_id", "project_id"] if table == "users_projects" else ["id"]
        assert key["constrained_columns"] == expected, table
        if engine.dialect.name == "postgresql":
            assert key["name"] == f"{table}_pkey"


def test_head_foreign_keys(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """The foreign keys, their ON DELETE rules and, on PostgreSQL, their names."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "head")
    inspector = sa.inspect(engine)
    postgresql = engine.dialect.name == "postgresql"
    found = {}
    for table in HEAD_SCHEMA:
        for fk in inspector.get_foreign_keys(table):
            assert len(fk["constrained_columns"]) == 1
            assert fk["referred_columns"] == ["id"]
            name = fk["name"] if postgresql else None
            found[(table, fk["constrained_columns"][0])] = (
                fk["referred_table"],
                fk["options"].get("ondelete"),
                name,
            )
    expected = {
        key: (referred, ondelete, name if postgresql else None)
        for key, (referred, ondelete, name) in HEAD_FOREIGN_KEYS.items()
    }
    assert found == expected


def test_head_indexes(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """Model indexes everywhere; the 16 PostgreSQL-only indexes on PostgreSQL alone."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "head")
    inspector = sa.inspect(engine)
    expected = {}
    for table in HEAD_SCHEMA:
        for column, (_, _, indexed) in _columns(table).items():
            if indexed:
                expected[f"ix_{table}_{column}"] = (table, [column], column == "email")
    plain = {}
    for table in HEAD_SCHEMA:
        for index in inspector.get_indexes(table):
            if index["name"] in MIGRATION_ONLY_INDEXES:
                continue
            plain[index["name"]] = (table, index["column_names"], bool(index["unique"]))
    assert plain == expected

    only_here = _index_names(engine) & MIGRATION_ONLY_INDEXES
    if engine.dialect.name == "postgresql":
        assert len(MIGRATION_ONLY_INDEXES) == 16
        assert only_here == MIGRATION_ONLY_INDEXES
        assert _index_names(engine) - set(expected) == MIGRATION_ONLY_INDEXES
    else:
        assert only_here == set()


def test_imports_created_server_default(
    empty_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """imports.created is NOT NULL with a server default that fills it in."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "head")
    created = next(c for c in sa.inspect(engine).get_columns("imports") if c["name"] == "created")
    assert created["nullable"] is False
    assert created["default"] is not None
    import_id = "5d1c0d50-6a3e-4d44-b2a3-5d84b8c7e001"
    with engine.begin() as connection:
        _insert(connection, "imports", id=import_id, filename="a.xml")
    assert _by_id(engine, "imports", "created")[import_id] is not None
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as connection:
            _insert(connection, "imports", id="5d1c0d50-6a3e-4d44-b2a3-5d84b8c7e002", created=None)


def _cascade_engine(make_engine: MakeEngine, url: str) -> sa.Engine:
    """An engine that enforces foreign keys, on SQLite too."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _foreign_keys_on(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    return engine


def _delete_import_with_file(engine: sa.Engine, suffix: str) -> list[tuple[Any, ...]]:
    """Add an import with one file, delete the import, return the files left of it."""
    import_id = f"7e3c8a41-0c3f-4a8e-9a53-00000000000{suffix}"
    with engine.begin() as connection:
        _insert(connection, "imports", id=import_id, created=_now())
        _insert(
            connection, "import_files", id=f"8f3c8a41-0c3f-4a8e-9a53-00000000000{suffix}",
            import_id=import_id, content=b"data",
        )
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM imports WHERE id = :id"), {"id": import_id})
    return [row for row in _rows(engine, "import_files", "id", "import_id") if row[1] == import_id]


def test_import_files_cascade(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """Deleting an import is refused before 8cf9148b9ad9 and cascades to its files after."""
    engine = _cascade_engine(make_engine, empty_url)
    migrate(empty_url, "upgrade", "53994db980f1")
    with pytest.raises(sa.exc.IntegrityError):
        _delete_import_with_file(engine, "1")
    assert len(_rows(engine, "import_files", "id")) == 1

    migrate(empty_url, "upgrade", "8cf9148b9ad9")
    assert _delete_import_with_file(engine, "2") == []

    migrate(empty_url, "upgrade", "head")
    assert _delete_import_with_file(engine, "3") == []

    migrate(empty_url, "downgrade", "53994db980f1")
    fk = sa.inspect(engine).get_foreign_keys("import_files")
    assert [key["options"].get("ondelete") for key in fk] == [None]
    with pytest.raises(sa.exc.IntegrityError):
        _delete_import_with_file(engine, "4")


def test_backfill_imports_created(
    empty_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """53994db980f1 gives a creation time to imports that had none and keeps the others."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "fc3df1d9ee4e")
    missing = "1a2b3c4d-0000-4000-8000-000000000001"
    dated = "1a2b3c4d-0000-4000-8000-000000000002"
    with engine.begin() as connection:
        _insert(connection, "imports", id=missing, filename="late.xml", created=None)
        _insert(connection, "imports", id=dated, filename="old.xml", created=_now())
    assert _by_id(engine, "imports", "created")[missing] is None

    migrate(empty_url, "upgrade", "53994db980f1")
    created = _by_id(engine, "imports", "created")
    assert created[missing] is not None
    assert str(created[dated]).startswith("2026-01-02 03:04:05")
    assert _by_id(engine, "imports", "filename") == {missing: "late.xml", dated: "old.xml"}


def test_downgrade_fc3df1d9ee4e_recreates_empty_meta(
    empty_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """Going back to the baseline brings back meta, empty, and drops the PostgreSQL indexes."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "fc3df1d9ee4e")
    assert "meta" not in _tables(engine)
    migrate(empty_url, "downgrade", "cacecc4f1237")
    assert "meta" in _tables(engine)
    assert _rows(engine, "meta", "key", "value") == []
    assert "ix_meta_key" in _index_names(engine)
    assert _index_names(engine) & MIGRATION_ONLY_INDEXES == set()
    assert _version(engine) == "cacecc4f1237"


def _seed_projects(engine: sa.Engine, *project_ids: str) -> None:
    """Users, projects and project data for the merge revision."""
    names = {SOURCE: "hcc-perfscale-cpt", TARGET: "insights-qe", OTHER: "other"}
    with engine.begin() as connection:
        for user in ("u1", "u2", "u3"):
            _insert(
                connection, "users", id=_uid(user), email=f"{user}@example.com",
                is_superadmin=False, is_active=True,
            )
        for project in project_ids:
            _insert(connection, "projects", id=project, name=names[project])
        links = [("u1", SOURCE), ("u2", SOURCE), ("u2", TARGET), ("u3", OTHER), ("u3", TARGET)]
        for user, project in links:
            if project in project_ids:
                _insert(connection, "users_projects", user_id=_uid(user), project_id=project)
        for project in project_ids:
            tag = project[:4]
            _insert(
                connection, "runs", id=_uid(f"run-{tag}"), project_id=project,
                data={"build": tag}, start_time=_now(), created=_now(),
            )
            _insert(
                connection, "results", id=_uid(f"result-{tag}"), project_id=project,
                run_id=_uid(f"run-{tag}"), data={"test": tag}, start_time=_now(),
            )
            _insert(connection, "dashboards", id=_uid(f"dash-{tag}"), project_id=project)
            _insert(
                connection, "widget_configs", id=_uid(f"widget-{tag}"), project_id=project,
                dashboard_id=_uid(f"dash-{tag}"),
            )
        if SOURCE in project_ids:
            _insert(
                connection, "runs", id=_uid("run-nodata"), project_id=SOURCE, data=None,
                start_time=_now(), created=_now(),
            )


def _uid(label: str) -> str:
    """A stable hyphenated UUID for a label."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, label))


def _snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "projects": _rows(engine, "projects", "id", "name"),
        "users_projects": _rows(engine, "users_projects", "user_id", "project_id"),
        "runs": _rows(engine, "runs", "id", "project_id", "data"),
        "results": _rows(engine, "results", "id", "project_id", "data"),
        "dashboards": _rows(engine, "dashboards", "id", "project_id"),
        "widget_configs": _rows(engine, "widget_configs", "id", "project_id"),
    }


def test_merge_moves_source_into_target(
    empty_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """e5736dbcc0b0 moves the source project's data and users to the target project."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "8cf9148b9ad9")
    _seed_projects(engine, SOURCE, TARGET, OTHER)
    migrate(empty_url, "upgrade", "e5736dbcc0b0")
    assert _version(engine) == "e5736dbcc0b0"

    moved = {"c6fd": TARGET, "3915": TARGET, "0b6b": OTHER}
    for table, prefix in (("runs", "run"), ("results", "result"), ("dashboards", "dash"),
                          ("widget_configs", "widget")):
        projects = _by_id(engine, table, "project_id")
        assert {tag: projects[_uid(f"{prefix}-{tag}")] for tag in moved} == moved, table
    assert _by_id(engine, "runs", "project_id")[_uid("run-nodata")] == TARGET

    links = set(_rows(engine, "users_projects", "user_id", "project_id"))
    assert links == {
        (_uid("u1"), SOURCE), (_uid("u2"), SOURCE), (_uid("u1"), TARGET),
        (_uid("u2"), TARGET), (_uid("u3"), TARGET), (_uid("u3"), OTHER),
    }
    assert SOURCE in _by_id(engine, "projects", "name")

    runs = _by_id(engine, "runs", "data")
    results = _by_id(engine, "results", "data")
    if engine.dialect.name == "postgresql":
        assert runs[_uid("run-c6fd")] == {"build": "c6fd", **TAG}
        assert runs[_uid("run-nodata")] == TAG
        assert results[_uid("result-c6fd")] == {"test": "c6fd", **TAG}
    else:
        assert runs[_uid("run-c6fd")] == {"build": "c6fd"}
        assert runs[_uid("run-nodata")] is None
        assert results[_uid("result-c6fd")] == {"test": "c6fd"}
    assert runs[_uid("run-3915")] == {"build": "3915"}
    assert runs[_uid("run-0b6b")] == {"build": "0b6b"}
    assert results[_uid("result-0b6b")] == {"test": "0b6b"}


def test_merge_without_source_changes_nothing(
    empty_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """Without the source project, e5736dbcc0b0 only moves the version."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "8cf9148b9ad9")
    _seed_projects(engine, TARGET, OTHER)
    before = _snapshot(engine)
    migrate(empty_url, "upgrade", "e5736dbcc0b0")
    assert _version(engine) == "e5736dbcc0b0"
    assert _snapshot(engine) == before


def test_merge_without_target_fails(
    empty_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """With the source but no target, the upgrade fails and leaves the database as it was."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "8cf9148b9ad9")
    _seed_projects(engine, SOURCE, OTHER)
    before = _snapshot(engine)
    with pytest.raises(CommandError, match=TARGET):
        migrate(empty_url, "upgrade", "head")
    assert _version(engine) == "8cf9148b9ad9"
    assert _snapshot(engine) == before


# (summary before d18de2b3253f, the pass_percent it gets)
PASS_PERCENT_CASES: list[tuple[dict[str, Any], int]] = [
    ({"tests": 10, "passes": 7, "failures": 3}, 70),
    ({"tests": "8", "passes": "3"}, 37),
    ({"tests": 3, "passes": 2}, 66),
    ({"tests": 10, "failures": 1, "errors": 1, "skips": 1, "xpasses": 1, "xfailures": 1}, 50),
    ({"tests": 3, "failures": 1}, 66),
    ({"tests": 10}, 100),
    ({"passes": 5}, 0),
    ({"tests": 0, "passes": 0}, 0),
    ({"tests": "0", "failures": 0}, 0),
    ({"tests": "ten", "passes": 5}, 0),
    ({"tests": -4, "passes": 1}, 0),
    ({"tests": 2.5, "passes": 1}, 0),
    ({"tests": 10, "passes": "seven", "failures": 2}, 80),
    ({"tests": 10, "passes": None, "errors": 4}, 60),
    ({"tests": 10, "failures": "x", "errors": "2", "skips": -1}, 80),
    ({"tests": 4, "passes": 9}, 100),
    ({"tests": 4, "failures": 9}, 0),
    ({"tests": 4, "failures": 3, "errors": 3}, 0),
]


def test_pass_percent_backfill(
    postgres_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """d18de2b3253f computes pass_percent for every summary that lacks it."""
    engine = make_engine(postgres_url)
    migrate(postgres_url, "upgrade", "e5736dbcc0b0")
    untouched: list[Any] = [
        {"tests": 10, "passes": 1, "pass_percent": 55},
        {"tests": 10, "pass_percent": "40"},
        None,
        [1, 2],
        "text",
    ]
    with engine.begin() as connection:
        for number, (summary, _) in enumerate(PASS_PERCENT_CASES):
            _insert_run(connection, f"case-{number}", summary)
        for number, summary in enumerate(untouched):
            _insert_run(connection, f"untouched-{number}", summary)
        connection.execute(
            sa.text(
                "INSERT INTO runs (id, summary, start_time, created)"
                " VALUES (:id, CAST('null' AS jsonb), now(), now())"
            ),
            {"id": _uid("json-null")},
        )

    migrate(postgres_url, "upgrade", "d18de2b3253f")
    summaries = _by_id(engine, "runs", "summary")
    for number, (summary, percent) in enumerate(PASS_PERCENT_CASES):
        after = summaries[_uid(f"case-{number}")]
        assert after == {**summary, "pass_percent": percent}, summary
        assert type(after["pass_percent"]) is int
    for number, summary in enumerate(untouched):
        assert summaries[_uid(f"untouched-{number}")] == summary
    assert summaries[_uid("json-null")] is None
    with engine.connect() as connection:
        kinds = connection.execute(
            sa.text("SELECT DISTINCT jsonb_typeof(summary -> 'pass_percent') FROM runs"
                    " WHERE id <> :id AND summary ? 'pass_percent'"),
            {"id": _uid("untouched-1")},
        ).scalars().all()
    assert kinds == ["number"]
    assert "ix_runs_pass_percent" in _index_names(engine)


def _insert_run(connection: sa.Connection, label: str, summary: Any) -> None:
    _insert(
        connection, "runs", id=_uid(label),
        summary=None if summary is None else json.dumps(summary),
        start_time=_now(), created=_now(),
    )


def test_pass_percent_backfill_in_batches(
    postgres_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """More runs than one batch holds are all backfilled."""
    engine = make_engine(postgres_url)
    migrate(postgres_url, "upgrade", "e5736dbcc0b0")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO runs (id, summary, start_time, created)"
                " SELECT gen_random_uuid(), jsonb_build_object('tests', n % 7, 'passes', n % 5),"
                " now(), now() FROM generate_series(1, 12001) AS n"
            )
        )
    migrate(postgres_url, "upgrade", "head")
    with engine.connect() as connection:
        missing = connection.execute(
            sa.text("SELECT count(*) FROM runs WHERE NOT (summary ? 'pass_percent')")
        ).scalar()
        wrong = connection.execute(
            sa.text(
                "SELECT count(*) FROM runs WHERE (summary ->> 'pass_percent')::int <>"
                " CASE WHEN (summary ->> 'tests')::int = 0 THEN 0 ELSE LEAST(100,"
                " (summary ->> 'passes')::int * 100 / (summary ->> 'tests')::int) END"
            )
        ).scalar()
    assert (missing, wrong) == (0, 0)


def test_pass_percent_downgrade_keeps_data(
    postgres_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """Downgrading d18de2b3253f drops its index and keeps the backfilled values."""
    engine = make_engine(postgres_url)
    migrate(postgres_url, "upgrade", "e5736dbcc0b0")
    with engine.begin() as connection:
        _insert_run(connection, "kept", {"tests": 4, "passes": 3})
    migrate(postgres_url, "upgrade", "head")
    assert "ix_runs_pass_percent" in _index_names(engine)

    migrate(postgres_url, "downgrade", "-1")
    assert _version(engine) == "e5736dbcc0b0"
    assert "ix_runs_pass_percent" not in _index_names(engine)
    assert _by_id(engine, "runs", "summary")[_uid("kept")] == {
        "tests": 4, "passes": 3, "pass_percent": 75,
    }
    assert _index_names(engine) & MIGRATION_ONLY_INDEXES == MIGRATION_ONLY_INDEXES - {
        "ix_runs_pass_percent"
    }


def test_pass_percent_skipped_on_sqlite(
    sqlite_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """On SQLite d18de2b3253f changes no data and builds no index."""
    engine = make_engine(sqlite_url)
    migrate(sqlite_url, "upgrade", "e5736dbcc0b0")
    with engine.begin() as connection:
        _insert_run(connection, "lite", {"tests": 4, "passes": 3})
    migrate(sqlite_url, "upgrade", "head")
    assert _version(engine) == "d18de2b3253f"
    assert _by_id(engine, "runs", "summary")[_uid("lite")] == {"tests": 4, "passes": 3}
    assert "ix_runs_pass_percent" not in _index_names(engine)


PASS_PERCENT_INDEX_SQL = (
    "CREATE INDEX CONCURRENTLY ix_runs_pass_percent ON runs (((summary ->> 'pass_percent')::int))"
)


def _pass_percent_index_valid(engine: sa.Engine) -> bool | None:
    """pg_index.indisvalid of ix_runs_pass_percent; None when there is no such index."""
    with engine.connect() as connection:
        valid: bool | None = connection.execute(
            sa.text(
                "SELECT indisvalid FROM pg_index"
                " WHERE indexrelid = to_regclass('ix_runs_pass_percent')"
            )
        ).scalar()
    return valid


def _failed_index_build(engine: sa.Engine) -> None:
    """Build ix_runs_pass_percent concurrently while another transaction writes to runs.

    The build commits its catalog entry, then waits for that transaction and gives
    up at its 200 ms lock timeout: the index is left behind, invalid.
    """
    with engine.connect() as builder:
        builder = builder.execution_options(isolation_level="AUTOCOMMIT")
        builder.exec_driver_sql("SET lock_timeout = '200ms'")
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            builder.exec_driver_sql(PASS_PERCENT_INDEX_SQL)
    assert _pass_percent_index_valid(engine) is False


def _one_run_before_backfill(
    url: str, migrate: Migrate, make_engine: MakeEngine, label: str, summary: dict[str, Any]
) -> sa.Engine:
    """The database at ``url`` brought to e5736dbcc0b0, with one run to backfill."""
    engine = make_engine(url)
    migrate(url, "upgrade", "e5736dbcc0b0")
    with engine.begin() as connection:
        _insert_run(connection, label, summary)
    return engine


def test_pass_percent_rebuilds_an_invalid_index(
    postgres_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """An interrupted build left ix_runs_pass_percent invalid: the upgrade drops and rebuilds it."""
    engine = _one_run_before_backfill(
        postgres_url, migrate, make_engine, "rebuilt", {"tests": 4, "passes": 1}
    )
    with engine.connect() as writer:
        writer.execute(sa.text("LOCK TABLE runs IN ROW EXCLUSIVE MODE"))
        _failed_index_build(engine)
        writer.rollback()

    migrate(postgres_url, "upgrade", "head")
    assert _version(engine) == "d18de2b3253f"
    assert _pass_percent_index_valid(engine) is True
    assert _by_id(engine, "runs", "summary")[_uid("rebuilt")]["pass_percent"] == 25


def _backfill_waits(engine: sa.Engine) -> bool:
    """Whether a backfill batch of d18de2b3253f waits for a row lock."""
    with engine.connect() as connection:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " AND wait_event = 'transactionid' AND query LIKE '%jsonb_set(runs.summary%'"
            )
        ).scalar()
    return bool(waiting)


def test_pass_percent_not_recorded_with_an_invalid_index(
    postgres_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """Another session's build of the index fails while the backfill runs: CREATE INDEX
    ... IF NOT EXISTS then finds an invalid index, and the revision is not recorded."""
    engine = _one_run_before_backfill(
        postgres_url, migrate, make_engine, "locked", {"tests": 2, "passes": 1}
    )
    outcome: list[BaseException | None] = []

    def upgrade() -> None:
        try:
            migrate(postgres_url, "upgrade", "head")
            outcome.append(None)
        except BaseException as exc:  # noqa: B036  (handed to the test's thread)
            outcome.append(exc)

    with engine.connect() as row_holder:
        row_holder.execute(
            sa.text("SELECT id FROM runs WHERE id = :id FOR UPDATE"), {"id": _uid("locked")}
        )
        upgrading = threading.Thread(target=upgrade)
        upgrading.start()
        # The backfill batch waits for the locked run, inside its own write transaction:
        # the other session's build waits for that transaction and times out.
        wait_until(lambda: _backfill_waits(engine), "the backfill waiting for the locked run")
        _failed_index_build(engine)
        row_holder.rollback()
        upgrading.join(WAIT)
    assert not upgrading.is_alive(), "the upgrade still ran after the row lock was released"
    assert len(outcome) == 1 and isinstance(outcome[0], CommandError), outcome
    assert "ix_runs_pass_percent is invalid" in str(outcome[0])
    assert _version(engine) == "e5736dbcc0b0"
    assert _pass_percent_index_valid(engine) is False
    assert _by_id(engine, "runs", "summary")[_uid("locked")]["pass_percent"] == 50

    migrate(postgres_url, "upgrade", "head")
    assert _version(engine) == "d18de2b3253f"
    assert _pass_percent_index_valid(engine) is True


def test_pass_percent_keeps_the_guards_lock_timeout(
    postgres_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """Run by the guard, d18de2b3253f leaves the session's lock_timeout as the guard set it
    from IBUTSU_DB_DDL_LOCK_TIMEOUT, for the revisions after it."""
    migrate(postgres_url, "upgrade", "e5736dbcc0b0")
    app = create_app(
        boot_config(
            postgres_url,
            IBUTSU_DB_MIGRATE="off",
            IBUTSU_DB_DDL_LOCK_TIMEOUT=1.5,
            SQLALCHEMY_ENGINE_OPTIONS={"poolclass": sa.NullPool},
        )
    )
    shown: list[str] = []

    def upgrade_showing_lock_timeout(config: Config, revision: str) -> None:
        connection = config.attributes["connection"]
        shown.append(connection.exec_driver_sql("SHOW lock_timeout").scalar())
        connection.commit()
        command.upgrade(config, revision)
        shown.append(connection.exec_driver_sql("SHOW lock_timeout").scalar())
        connection.commit()

    with app.app_context():
        try:
            app_guard(app).runner.run(upgrade_showing_lock_timeout, "d18de2b3253f")
        finally:
            db.engine.dispose()
    assert _version(make_engine(postgres_url)) == "d18de2b3253f"
    assert shown == ["1500ms", "1500ms"]


def test_pass_percent_build_waits_the_configured_lock_timeout(
    postgres_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """A build blocked by another session gives up after IBUTSU_DB_DDL_LOCK_TIMEOUT, not
    after the revision's own 30 s; the next boot rebuilds the index it left invalid."""
    ddl_lock_timeout = 2.0
    limit = ddl_lock_timeout + 10  # generous, and still well under 30 s
    engine = make_engine(postgres_url)
    migrate(postgres_url, "upgrade", "e5736dbcc0b0")
    outcome: list[BaseException | DatabaseState] = []
    took: list[float] = []

    def run() -> None:
        start = time.monotonic()
        try:
            outcome.append(
                boot(boot_config(postgres_url, IBUTSU_DB_DDL_LOCK_TIMEOUT=ddl_lock_timeout))
            )
        except BaseException as exc:  # noqa: B036  (handed to the test's thread)
            outcome.append(exc)
        took.append(time.monotonic() - start)

    with engine.connect() as writer:
        writer.execute(sa.text("LOCK TABLE runs IN ROW EXCLUSIVE MODE"))
        booting = threading.Thread(target=run)
        booting.start()
        booting.join(limit)
        hung = booting.is_alive()
        writer.rollback()
        booting.join(WAIT)
    assert not hung, f"the build still waited for the lock after {limit:g} s"
    assert len(outcome) == 1 and isinstance(outcome[0], MigrationFailedError), outcome
    assert outcome[0].revision == "d18de2b3253f"
    assert "lock timeout" in outcome[0].message
    assert ddl_lock_timeout <= took[0] < limit
    assert _version(engine) == "e5736dbcc0b0"
    assert _pass_percent_index_valid(engine) is False

    assert boot(boot_config(postgres_url)).current == ("d18de2b3253f",)
    assert _pass_percent_index_valid(engine) is True
