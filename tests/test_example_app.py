"""The guard lifted out: a notes app (``tests/example_app``) with its own models,
migrations, config prefix, command name and version table, and no Ibutsu code,
through every state and mode on both dialects."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from example_app import MIGRATIONS, NAMES, create_app, db, detect_old_notes
from flask import Flask
from guard_databases import (
    DIALECTS,
    execute,
    fresh_url,
    make_engine,
    migrate_to,
    record_newer_revision,
)

from flask_migration_guard import MigrationGuard, StateName
from flask_migration_guard.appstate import app_guard
from flask_migration_guard.errors import (
    BrokenVersionTableError,
    GuardConfigError,
    GuardError,
    LegacyTooOldError,
    LegacyUnprovenError,
    MultipleHeadsError,
    NotUpToDateError,
    UnknownRevisionError,
    UnversionedDatabaseError,
)

pytestmark = pytest.mark.usefixtures("clean_environment")

HEAD = "note0002"
TESTS = Path(__file__).parent
MODES = ("check", "wait", "upgrade", "off")
UPGRADABLE = {StateName.EMPTY, StateName.BEHIND, StateName.LEGACY}
REFUSALS: dict[StateName, type[GuardError]] = {
    StateName.LEGACY_TOO_OLD: LegacyTooOldError,
    StateName.LEGACY_UNPROVEN: LegacyUnprovenError,
    StateName.UNVERSIONED: UnversionedDatabaseError,
    StateName.UNKNOWN_REVISION: UnknownRevisionError,
    StateName.BROKEN_VERSION_TABLE: BrokenVersionTableError,
    StateName.MULTIPLE_SCRIPT_HEADS: MultipleHeadsError,
}

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"
OLD_META = "CREATE TABLE notes_meta (version INTEGER)"
SETUPS: dict[StateName, Callable[[str], None]] = {
    StateName.AT_HEAD: lambda url: migrate_to(url, HEAD, MIGRATIONS),
    StateName.AHEAD_COMPATIBLE: lambda url: (
        migrate_to(url, HEAD, MIGRATIONS),
        record_newer_revision(url, NAMES, HEAD, "note9998"),
    ),
    StateName.EMPTY: lambda url: None,
    StateName.BEHIND: lambda url: migrate_to(url, "note0001", MIGRATIONS),
    StateName.LEGACY: lambda url: execute(
        url, OLD_META, "INSERT INTO notes_meta VALUES (1)", NOTES
    ),
    StateName.LEGACY_TOO_OLD: lambda url: execute(
        url, OLD_META, "INSERT INTO notes_meta VALUES (0)", NOTES
    ),
    StateName.LEGACY_UNPROVEN: lambda url: execute(
        url, OLD_META, "INSERT INTO notes_meta VALUES (1)"
    ),
    StateName.UNVERSIONED: lambda url: execute(url, NOTES),
    StateName.UNKNOWN_REVISION: lambda url: (
        migrate_to(url, HEAD, MIGRATIONS),
        execute(url, "UPDATE notes_version SET version_num = 'note9999'"),
    ),
    StateName.BROKEN_VERSION_TABLE: lambda url: (
        migrate_to(url, HEAD, MIGRATIONS),
        execute(url, "DELETE FROM notes_version"),
    ),
    StateName.MULTIPLE_SCRIPT_HEADS: lambda url: migrate_to(url, HEAD, MIGRATIONS),
}


def two_heads(tmp_path: Path) -> str:
    """A copy of the notes migrations with a second head beside note0002."""
    directory = tmp_path / "two_heads"
    shutil.copytree(MIGRATIONS, directory)
    (directory / "versions" / "note0003_side.py").write_text(
        'revision = "note0003"\ndown_revision = "note0001"\n\n\n'
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    return str(directory)


def contents(url: str) -> dict[str, list[Any]]:
    """Every table's rows, to show that nothing was written."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = sorted(sa.inspect(connection).get_table_names())
            return {
                table: sorted(map(tuple, connection.exec_driver_sql(f"SELECT * FROM {table}")))
                for table in tables
            }
    finally:
        engine.dispose()


def boot(url: str, mode: str, **config: Any) -> Flask:
    settings = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": sa.NullPool},
        "NOTES_DB_MIGRATE": mode,
        "NOTES_DB_WAIT_TIMEOUT": 0,
    }
    return create_app(settings | config)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("state", list(SETUPS), ids=lambda state: state.value)
def test_every_state_in_every_mode(
    state: StateName, mode: str, dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Each state and mode ends as the guard promises, in the app's own words."""
    url = fresh_url(request, dialect)
    SETUPS[state](url)
    config = {}
    if state is StateName.MULTIPLE_SCRIPT_HEADS:
        config["NOTES_DB_MIGRATIONS_DIR"] = two_heads(tmp_path)
    before = contents(url)

    if state in (StateName.AT_HEAD, StateName.AHEAD_COMPATIBLE) or mode == "off":
        app = boot(url, mode, **config)
        assert contents(url) == before
        last = app_guard(app).last_state
        assert mode == "off" or (last is not None and last.name is state)
        return
    if state in UPGRADABLE and mode == "upgrade":
        app = boot(url, mode, **config)
        assert app_guard(app).last_state is not None
        assert app_guard(app).last_state.name is StateName.AT_HEAD
        after = contents(url)
        assert after["notes_version"] == [(HEAD,)]
        assert "tags" in after and "alembic_version" not in after
        return
    expected = NotUpToDateError if state in UPGRADABLE else REFUSALS[state]
    with pytest.raises(expected) as refused:
        boot(url, mode, **config)
    message = refused.value.message
    assert "ibutsu" not in message.replace(str(tmp_path), "<tmp>").lower()
    assert state.value in message or "not up to date" in message
    if expected is NotUpToDateError:
        assert "'flask --app example_app schema upgrade'" in message
        assert "NOTES_DB_MIGRATE=upgrade" in message
    elif state is StateName.LEGACY_TOO_OLD:
        assert "Run the notes 0.9 upgrade script first" in message
    elif state is StateName.LEGACY_UNPROVEN:
        assert "'flask --app example_app schema stamp note0001'" in message
    elif state is not StateName.MULTIPLE_SCRIPT_HEADS:
        assert "notes_version" in message or "NOTES_DATABASE_URL" in message
    assert contents(url) == before


def test_a_bad_setting_names_the_apps_key(sqlite_url: str) -> None:
    """Settings are read under the app's prefix, and errors name its key."""
    with pytest.raises(GuardConfigError, match="NOTES_DB_WAIT_TIMEOUT must be"):
        create_app({"SQLALCHEMY_DATABASE_URI": sqlite_url, "NOTES_DB_WAIT_TIMEOUT": "soon"})


def test_env_py_naming_another_version_table_is_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The guard reads the version table its names give; an env.py writing another one
    is a config error before any revision runs."""
    directory = tmp_path / "other_table"
    shutil.copytree(MIGRATIONS, directory)
    env = directory / "env.py"
    env.write_text(env.read_text().replace('"notes_version"', '"other_version"'))
    with pytest.raises(GuardConfigError, match="env.py's version_table") as refused:
        boot(sqlite_url, "upgrade", NOTES_DB_MIGRATIONS_DIR=str(directory))
    assert "'other_version'" in refused.value.message
    assert contents(sqlite_url) == {}


def packages_after_boot(url: str, mode: str) -> set[str]:
    """The top-level packages a new process has imported once the notes app has booted."""
    script = (
        "import sys\n"
        "from example_app import create_app\n"
        f"create_app({{'SQLALCHEMY_DATABASE_URI': {url!r}, 'NOTES_DB_MIGRATE': {mode!r}}})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    environment = dict(os.environ, PYTHONPATH=str(TESTS))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0, result.stderr
    return set(eval(result.stdout.strip().splitlines()[-1]))


def test_the_app_loads_nothing_of_ibutsu(tmp_path: Path) -> None:
    """Booting and migrating the notes app imports the guard and no module of Ibutsu's."""
    packages = packages_after_boot(f"sqlite:///{tmp_path / 'notes.db'}", "upgrade")
    assert {"flask_migration_guard", "alembic", "example_app"} <= packages
    assert "ibutsu_server" not in packages


def test_a_boot_at_head_in_check_mode_imports_no_alembic(tmp_path: Path) -> None:
    """Check mode reads the heads as text and the revision with one query: Alembic,
    which a migration needs, is never imported by a boot that finds the database at head,
    nor what only a migration uses (``argparse`` for Alembic's config)."""
    url = f"sqlite:///{tmp_path / 'notes.db'}"
    migrate_to(url, HEAD, MIGRATIONS)
    packages = packages_after_boot(url, "check")
    assert "flask_migration_guard" in packages
    assert not {"alembic", "filelock", "argparse"} & packages


def test_migrating_postgresql_on_psycopg_3_imports_neither_filelock_nor_psycopg2(
    postgres_url: str,
) -> None:
    """SQLite's file lock, and the wait that makes psycopg2 interruptible, cost a migrating
    process their imports only where they serve: not on PostgreSQL through psycopg 3."""
    url = sa.make_url(postgres_url).set(drivername="postgresql+psycopg")
    packages = packages_after_boot(url.render_as_string(hide_password=False), "upgrade")
    assert {"alembic", "psycopg"} <= packages
    assert not {"filelock", "psycopg2"} & packages


def test_the_version_table_may_live_in_another_schema(postgres_url: str) -> None:
    """``version_table_schema`` is honoured: the guard reads, and Alembic writes, there."""
    execute(postgres_url, "CREATE SCHEMA bookkeeping")
    names = dataclasses.replace(NAMES, version_table_schema="bookkeeping")
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=postgres_url, NOTES_DB_MIGRATE="upgrade")
    db.init_app(app)
    MigrationGuard(app, directory=MIGRATIONS, legacy_detector=detect_old_notes, names=names)
    rows = contents(postgres_url)
    assert "notes_version" not in rows
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT version_num FROM bookkeeping.notes_version"
            )
            assert [row[0] for row in found] == [HEAD]
    finally:
        engine.dispose()
    checked = Flask(__name__)
    checked.config.update(SQLALCHEMY_DATABASE_URI=postgres_url, NOTES_DB_MIGRATE="check")
    db.init_app(checked)
    MigrationGuard(checked, directory=MIGRATIONS, names=names)
    assert app_guard(checked).last_state is not None
    assert app_guard(checked).last_state.name is StateName.AT_HEAD
