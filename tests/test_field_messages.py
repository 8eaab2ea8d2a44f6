"""Messages for faults met in the field: each says what is true, and none is a traceback.

An abbreviated id in alembic_version, a revision file Python cannot read, a
user that may read the tables but not change them, and a long chain of pending
revisions.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from guard_databases import HEAD, app_config, execute, migrate_to, snapshot

from ibutsu_server import MIGRATIONS_DIR, create_app
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_migration_guard import MigrationGuard, Names
from flask_migration_guard.errors import (
    BrokenScriptsError,
    BrokenVersionTableError,
    MigrationFailedError,
    NotUpToDateError,
)

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_an_abbreviated_id_is_refused(empty_url: str) -> None:
    """alembic_version holding 'd18de' is not 'behind with nothing pending': it is refused,
    and the message gives the full id to record."""
    migrate_to(empty_url, HEAD)
    execute(empty_url, f"UPDATE alembic_version SET version_num = '{HEAD[:5]}'")
    for mode in ("check", "upgrade"):
        with pytest.raises(BrokenVersionTableError) as refused:
            create_app(app_config(empty_url, mode))
        message = refused.value.message
        assert f"{HEAD[:5]!r} (short for {HEAD!r})" in message
        assert "an abbreviated id, not a full revision id" in message
        assert "flask --app ibutsu_server db stamp" in message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"revision = 'broken01'\ndown_revision = None\ndef upgrade(:\n", "line 3"),
        (b'"""Caf\xe9 in Latin-1"""\nrevision = "broken01"\ndown_revision = None\n', "UTF-8"),
    ],
    ids=["syntax-error", "not-utf-8"],
)
def test_a_broken_revision_file_is_a_guard_error(
    sqlite_url: str, tmp_path: Path, content: bytes, words: str
) -> None:
    """The file, the line where Python could say it, and what to do; nothing written."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    broken = scripts / "versions" / "broken01_oops.py"
    broken.write_bytes(content)
    with pytest.raises(BrokenScriptsError) as refused:
        create_app(app_config(sqlite_url, "upgrade", IBUTSU_DB_MIGRATIONS_DIR=str(scripts)))
    message = refused.value.message
    assert "broken01_oops.py" in message and words in message
    assert "Expected every file in versions/ to be a revision Alembic can import" in message
    assert refused.value.exit_code == 2
    assert sa.inspect(sa.create_engine(sqlite_url)).get_table_names() == []


@pytest.mark.ibutsu_db_dialects("postgresql")
def test_a_user_that_may_not_change_tables_is_told_so(
    empty_url: str, postgres_server_url: str
) -> None:
    """A user with SELECT only: the hint is about owning the tables, not CREATE on the schema."""
    migrate_to(empty_url, "53994db980f1")
    role = f"ibutsu_reader_{uuid.uuid4().hex[:8]}"
    execute(postgres_server_url, f'CREATE ROLE "{role}" LOGIN')
    try:
        execute(empty_url, f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        before = snapshot(empty_url)
        as_reader = sa.make_url(empty_url).set(username=role).render_as_string(False)
        with pytest.raises(MigrationFailedError) as failed:
            create_app(app_config(as_reader, "upgrade"))
        message = failed.value.message
        assert "InsufficientPrivilege" in message
        assert f"The user {role!r} lacks a privilege the migrations need" in message
        assert "own the schema's tables" in message
        assert "GRANT CREATE ON SCHEMA" not in message
        assert "The database stays at '53994db980f1'" in message
        assert snapshot(empty_url) == before
    finally:
        execute(empty_url, f'DROP OWNED BY "{role}"')
        execute(postgres_server_url, f'DROP ROLE "{role}"')


def test_a_long_pending_list_is_shortened(tmp_path: Path, sqlite_url: str) -> None:
    """Thirty pending revisions: the message names the first nine and the last, and how
    many it leaves out, instead of every one."""
    versions = tmp_path / "scripts" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "scripts" / "env.py").write_text("")
    ids = [f"long{index:04d}" for index in range(30)]
    for index, revision in enumerate(ids):
        parent = repr(ids[index - 1]) if index else "None"
        (versions / f"{revision}.py").write_text(
            f"revision = {revision!r}\ndown_revision = {parent}\n"
        )
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=sqlite_url, DB_GUARD_MIGRATE="check")
    SQLAlchemy(app)
    with pytest.raises(NotUpToDateError) as refused:
        MigrationGuard(app, directory=str(tmp_path / "scripts"), names=Names(command=None))
    message = refused.value.message
    assert "30 pending: " + ", ".join(ids[:9]) + ", ... (20 more), long0029." in message
    assert "long0009" not in message
