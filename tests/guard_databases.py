"""Databases in every state the startup guard tells apart, on SQLite and PostgreSQL.

A support module for the guard's tests, not a test file. Each :class:`Case`
builds one situation on an empty database: by running the real migrations, by
raw SQL, or as a legacy database (:mod:`legacy_databases`). No schema is ever
made with ``create_all``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from legacy_databases import build_legacy_database

from ibutsu_server import MIGRATIONS_DIR
import sqlite_transactions as sqlite_support
from flask_migration_guard import Names, StateName
from flask_migration_guard.history import history_table
from flask_migration_guard.scripts import alembic_config
from ibutsu_server.guard_names import GUARD_NAMES
from ibutsu_server.testing import postgres

DIALECTS = ("sqlite", "postgresql")

CHAIN = (
    "cacecc4f1237",
    "fc3df1d9ee4e",
    "53994db980f1",
    "8cf9148b9ad9",
    "e5736dbcc0b0",
    "d18de2b3253f",
)
BASELINE = CHAIN[0]
HEAD = CHAIN[-1]
BEHIND_AT = "8cf9148b9ad9"
UNKNOWN_REVISION = "feedbeef0000"
#: A newer release's revision on top of HEAD, recorded as backward compatible.
AHEAD_REVISION = "feedbeef0001"

TWO_HEADS_DIR = str(Path(__file__).parent / "scripts" / "two_heads")
TWO_HEADS = ("twoh0002left", "twoh0003right")

#: A URL nothing answers at: port 1 is closed.
CLOSED_PORT_URL = "postgresql://postgres:s3cret-pw@127.0.0.1:1/ibutsu"


def make_engine(url: str) -> sa.Engine:
    """An engine without pooling, with SQLite's transactions made real."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    sqlite_support.make_transactional(engine)
    return engine


def execute(url: str, *statements: str) -> None:
    """Run raw SQL statements in one transaction."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def migrate_to(url: str, revision: str, directory: str = MIGRATIONS_DIR) -> None:
    """Upgrade the database at ``url`` to ``revision`` with Alembic, without the guard."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            config = alembic_config(directory)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def version_rows(url: str) -> list[str] | None:
    """The rows of ``alembic_version``, or ``None`` when the table does not exist."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            return sorted(row[0] for row in rows)
    finally:
        engine.dispose()


def table_names(url: str) -> list[str]:
    """The database's table names, sorted."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


_SCHEMA_QUERIES = {
    "sqlite": ["SELECT type, name, tbl_name, sql FROM sqlite_master"],
    "postgresql": [
        (
            "SELECT table_name, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        ),
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        (
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace"
        ),
    ],
}


@dataclass(frozen=True)
class Snapshot:
    """What a database holds that the guard could change: schema and version markers."""

    schema: tuple[tuple[Any, ...], ...]
    alembic_version: tuple[str, ...] | None
    meta: tuple[tuple[Any, ...], ...] | None


def snapshot(url: str) -> Snapshot:
    """Take a :class:`Snapshot` of the database at ``url``."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            schema: list[tuple[Any, ...]] = []
            for query in _SCHEMA_QUERIES[engine.dialect.name]:
                schema += [tuple(row) for row in connection.exec_driver_sql(query)]
            tables = sa.inspect(connection).get_table_names()
            versions = meta = None
            if "alembic_version" in tables:
                rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
                versions = tuple(sorted(row[0] for row in rows))
            if "meta" in tables:
                rows = connection.exec_driver_sql("SELECT key, value FROM meta")
                meta = tuple(sorted((tuple(row) for row in rows), key=repr))
    finally:
        engine.dispose()
    return Snapshot(tuple(sorted(schema, key=repr)), versions, meta)


# Builders: each turns an empty database into one situation.


def _nothing(url: str) -> None:
    """Leave the database empty."""


def _at(revision: str) -> Callable[[str], None]:
    def build(url: str) -> None:
        migrate_to(url, revision)

    return build


def _legacy(**options: Any) -> Callable[[str], None]:
    def build(url: str) -> None:
        build_legacy_database(url, **options)

    return build


def _at_head_then(*statements: str) -> Callable[[str], None]:
    def build(url: str) -> None:
        migrate_to(url, HEAD)
        execute(url, *statements)

    return build


def record_newer_revision(url: str, names: Names, parent: str, revision: str) -> None:
    """Move the database from ``parent`` to ``revision`` as a newer release's guard leaves
    it: the version table at ``revision``, and the history recording it as applied on top
    of ``parent``, backward compatible."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            table = history_table(names)
            table.create(connection, checkfirst=True)
            connection.execute(
                table.insert().values(
                    revision=revision,
                    parents=parent,
                    direction="upgrade",
                    applied_at=datetime.now(timezone.utc),
                    duration_ms=1.0,
                    host="newer-release",
                    pid=1,
                    package_version="",
                    checksum="",
                    backward_compatible=True,
                    message="A newer release's revision",
                )
            )
            connection.execute(
                sa.text(f"UPDATE {names.qualified_version_table} SET version_num = :revision"),
                {"revision": revision},
            )
    finally:
        engine.dispose()


def _ahead_compatible(url: str) -> None:
    migrate_to(url, HEAD)
    record_newer_revision(url, GUARD_NAMES, HEAD, AHEAD_REVISION)


def _version_table_only(url: str) -> None:
    """What ``alembic downgrade base`` leaves: an empty alembic_version and no other table."""
    execute(
        url,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,"
        " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
    )


def _unversioned(url: str) -> None:
    execute(url, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")


@dataclass(frozen=True)
class Case:
    """One situation of a database relative to a script directory.

    :ivar name: the test id.
    :ivar state: the state the guard must report.
    :ivar build: turns an empty database at a URL into this situation.
    :ivar config: extra app settings the situation needs.
    :ivar dialects: where the situation exists.
    """

    name: str
    state: StateName
    build: Callable[[str], None]
    config: Mapping[str, str] = field(default_factory=dict)
    dialects: tuple[str, ...] = DIALECTS

    def __str__(self) -> str:
        return self.name


CASES = (
    Case("at_head", StateName.AT_HEAD, _at(HEAD)),
    Case("ahead_compatible", StateName.AHEAD_COMPATIBLE, _ahead_compatible),
    Case("empty", StateName.EMPTY, _nothing),
    Case("behind", StateName.BEHIND, _at(BEHIND_AT)),
    Case("legacy", StateName.LEGACY, _legacy()),
    Case("legacy_version_7", StateName.LEGACY_TOO_OLD, _legacy(version="7")),
    Case("legacy_version_abc", StateName.LEGACY_TOO_OLD, _legacy(version="abc")),
    Case("legacy_no_version", StateName.LEGACY_TOO_OLD, _legacy(version=None)),
    Case("legacy_two_versions", StateName.LEGACY_UNPROVEN, _legacy(version=("9", "9"))),
    Case(
        "legacy_missing_column",
        StateName.LEGACY_UNPROVEN,
        _legacy(missing_column=("imports", "created")),
    ),
    Case("legacy_reports_left", StateName.LEGACY_UNPROVEN, _legacy(with_reports=True)),
    Case(
        "legacy_owner_id_text",
        StateName.LEGACY_UNPROVEN,
        _legacy(owner_id_text=True),
        dialects=("postgresql",),
    ),
    Case("unversioned", StateName.UNVERSIONED, _unversioned),
    Case(
        "unknown_revision",
        StateName.UNKNOWN_REVISION,
        _at_head_then(f"UPDATE alembic_version SET version_num = '{UNKNOWN_REVISION}'"),
    ),
    Case(
        "empty_version_table",
        StateName.BROKEN_VERSION_TABLE,
        _at_head_then("DELETE FROM alembic_version"),
    ),
    Case(
        "version_table_only",
        StateName.EMPTY,
        _version_table_only,
    ),
    Case(
        "ancestor_in_version_table",
        StateName.BROKEN_VERSION_TABLE,
        _at_head_then(f"INSERT INTO alembic_version (version_num) VALUES ('{BASELINE}')"),
    ),
    Case(
        "multiple_script_heads",
        StateName.MULTIPLE_SCRIPT_HEADS,
        _nothing,
        config={"IBUTSU_DB_MIGRATIONS_DIR": TWO_HEADS_DIR},
    ),
)
CASES_BY_NAME = {case.name: case for case in CASES}


def case_params(cases: Iterable[Case] = CASES) -> list[Any]:
    """``pytest.param(case, dialect)`` for every case on every dialect it exists on."""
    return [
        pytest.param(case, dialect, id=f"{case.name}-{dialect}")
        for case in cases
        for dialect in case.dialects
    ]


def cases_in(*states: StateName) -> list[Case]:
    """The cases whose state is one of ``states``."""
    return [case for case in CASES if case.state in states]


def server_url(request: pytest.FixtureRequest, dialect: str) -> str | None:
    """The PostgreSQL server for ``dialect``, or ``None`` for SQLite (skips without one)."""
    if dialect != "postgresql":
        return None
    return str(request.getfixturevalue("postgres_server_url"))


def fresh_url(request: pytest.FixtureRequest, dialect: str) -> str:
    """A new, empty database of ``dialect`` from the conftest fixtures, dropped after the test."""
    return str(request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "postgres_url"))


class SharedDatabases:
    """Case databases built once per test session, for tests that only read them.

    A test that may write must use a fresh database instead; tests using
    these assert that nothing changed.

    :param directory: where the SQLite files go.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._urls: dict[tuple[str, str], str] = {}
        self._postgres: list[tuple[str, str]] = []

    def url(self, case: Case, dialect: str, server: str | None) -> str:
        """The URL of ``case`` built on ``dialect``, building it the first time."""
        key = (case.name, dialect)
        if key not in self._urls:
            if dialect == "sqlite":
                path = self.directory / f"{case.name}.db"
                path.touch()  # an empty file is an empty database
                url = f"sqlite:///{path}"
            else:
                assert server is not None
                name = postgres.unique_name()
                url = postgres.create_database(server, name)
                self._postgres.append((server, name))
            case.build(url)
            self._urls[key] = url
        return self._urls[key]

    def drop_all(self) -> None:
        """Drop every PostgreSQL database and SQLite file made, the databases in parallel."""

        def drop(server_and_name: tuple[str, str]) -> None:
            try:
                postgres.drop_database(*server_and_name)
            except sa.exc.OperationalError:
                pass  # a throwaway server already stopped: its databases are gone

        with ThreadPoolExecutor(max_workers=8) as executor:
            list(executor.map(drop, self._postgres))
        self._postgres.clear()
        self._urls.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


_shared: SharedDatabases | None = None


def shared_databases(config: pytest.Config) -> SharedDatabases:
    """The session's :class:`SharedDatabases`, dropped when the session ends."""
    global _shared
    if _shared is None:
        _shared = SharedDatabases(Path(tempfile.mkdtemp(prefix="ibutsu-guard-")))
        config.add_cleanup(_shared.drop_all)
    return _shared


def app_config(url: str, mode: str | None = None, **extra: Any) -> dict[str, Any]:
    """Settings for ``create_app``: the URL, the mode and no connection pooling."""
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": sa.NullPool},
        "TESTING": True,
    }
    if mode is not None:
        config["IBUTSU_DB_MIGRATE"] = mode
    config.update(extra)
    return config
