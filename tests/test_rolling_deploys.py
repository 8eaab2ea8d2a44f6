"""Rolling deploys and rollbacks: old code on a database that newer code migrated, and the
schema history that tells the guard whether that is safe.

Two releases: ``tests/scripts/release_1``, and a copy of it with two more revisions,
either both expand-only (a table, an index) or an expand and a contract (a dropped
column).
"""

from __future__ import annotations

import logging
import shutil
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from guard_databases import app_config, fresh_url
from guard_processes import SCRIPTS, Processes, query, table_names

from flask_migration_guard import StateName
from flask_migration_guard.appstate import app_guard
from flask_migration_guard.errors import (
    EditedRevisionError,
    MigrationFailedError,
    UnknownRevisionError,
)
from flask_migration_guard.history import checksum
from ibutsu_server import MIGRATIONS_DIR, create_app

pytestmark = pytest.mark.usefixtures("clean_environment")

RELEASE_1 = SCRIPTS / "release_1"
OLD_HEAD = "rel0002"
HISTORY = "alembic_version_history"

_REVISION = '''"""{message}

Revision ID: {revision}
Revises: {parent}
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{parent}"
branch_labels = None
depends_on = None
backward_compatible = {compatible}


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''

_NEWER = {
    "rel0003": (
        "Create tags",
        "op.create_table('tags', sa.Column('id', sa.Integer(), primary_key=True))",
        "op.drop_table('tags')",
        True,
    ),
    "rel0004": (
        "Index items by name",
        "op.create_index('ix_items_name', 'items', ['name'])",
        "op.drop_index('ix_items_name', 'items')",
        True,
    ),
    "con0004": (
        "Drop the note of items",
        "with op.batch_alter_table('items') as batch:\n        batch.drop_column('note')",
        "op.add_column('items', sa.Column('note', sa.Text(), nullable=True))",
        False,
    ),
}


def release_2(tmp_path: Path, last: str = "rel0004") -> Path:
    """A copy of release 1 with rel0003 (a new table) and ``last`` after it."""
    folder = tmp_path / f"release_2_{last}"
    shutil.copytree(RELEASE_1, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for revision, parent in (("rel0003", OLD_HEAD), (last, "rel0003")):
        message, upgrade, downgrade, compatible = _NEWER[revision]
        (folder / "versions" / f"{revision}.py").write_text(
            _REVISION.format(
                message=message,
                revision=revision,
                parent=parent,
                compatible=compatible,
                upgrade=upgrade,
                downgrade=downgrade,
            )
        )
    return folder


def boot(url: str, scripts: Path, mode: str, **config: Any) -> Flask:
    return create_app(app_config(url, mode, IBUTSU_DB_MIGRATIONS_DIR=str(scripts), **config))


def history(url: str) -> list[tuple[Any, ...]]:
    return query(
        url,
        f"SELECT revision, parents, direction, backward_compatible FROM {HISTORY} ORDER BY id",
    )


DIALECTS = pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])


@DIALECTS
def test_each_revision_applied_or_reverted_is_recorded(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A row per revision and direction, with who ran it, its checksum, flag and message."""
    url = fresh_url(request, dialect)
    newer = release_2(tmp_path)
    app = boot(url, newer, "upgrade")
    assert history(url) == [
        ("rel0001", "", "upgrade", False),
        ("rel0002", "rel0001", "upgrade", True),
        ("rel0003", "rel0002", "upgrade", True),
        ("rel0004", "rel0003", "upgrade", True),
    ]
    [row] = query(
        url,
        f"SELECT host, pid, package_version, checksum, message, duration_ms, applied_at"
        f" FROM {HISTORY} WHERE revision = 'rel0003'",
    )
    host, pid, version, recorded, message, duration, applied_at = row
    assert host == socket.gethostname() and pid > 0
    assert version == metadata.version("ibutsu-server-db")
    assert recorded == checksum((newer / "versions" / "rel0003.py").read_text())
    assert message == "Create tags"
    assert duration >= 0 and applied_at is not None
    result = app.test_cli_runner().invoke(args=["db", "downgrade", OLD_HEAD])
    assert result.exit_code == 0, result.output
    assert history(url)[-2:] == [
        ("rel0004", "rel0003", "downgrade", True),
        ("rel0003", "rel0002", "downgrade", True),
    ]


def _upgrade_logging_statements(url: str, scripts: Path) -> list[str]:
    """Upgrade ``url`` with the ``scripts`` to their heads; the statements that wrote history."""
    app = boot(url, scripts, "off")
    runner = app_guard(app).runner
    statements: list[str] = []
    sa.event.listen(
        runner.engine, "after_cursor_execute", lambda *call: statements.append(call[2])
    )
    runner.upgrade()
    return [statement for statement in statements if f"INSERT INTO {HISTORY}" in statement]


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_on_postgresql_the_rows_ride_along_with_the_version_writes(
    postgres_url: str, tmp_path: Path, driver: str
) -> None:
    """After the first revision of an upgrade, each row is written by Alembic's own
    statement that moves the version table on: the history costs no round trip more."""
    url = sa.make_url(postgres_url).set(drivername=f"postgresql+{driver}")
    writes = _upgrade_logging_statements(
        url.render_as_string(hide_password=False), release_2(tmp_path)
    )
    assert [statement.split()[0] for statement in writes] == ["INSERT", "WITH", "WITH", "WITH"]
    assert all("UPDATE alembic_version SET" in statement for statement in writes[1:])
    assert [row[0] for row in history(postgres_url)] == ["rel0001", "rel0002", "rel0003", "rel0004"]


def test_branches_and_their_merge_ride_along_once_each(postgres_url: str, tmp_path: Path) -> None:
    """A new branch (Alembic inserts a version row) and a merge (it deletes one row and
    updates the other) each carry their revision's row, once."""
    scripts = tmp_path / "two_heads"
    shutil.copytree(SCRIPTS / "two_heads", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    app = boot(postgres_url, scripts, "off")
    result = app.test_cli_runner().invoke(
        args=["db", "merge", "heads", "-m", "join", "--rev-id", "twoh0004join"]
    )
    assert result.exit_code == 0, result.output
    writes = _upgrade_logging_statements(postgres_url, scripts)
    assert [statement.split()[0] for statement in writes] == ["INSERT", "WITH", "WITH", "WITH"]
    assert sorted(row[0] for row in history(postgres_url)) == [
        "twoh0001base", "twoh0002left", "twoh0003right", "twoh0004join"
    ]
    [(parents,)] = query(
        postgres_url, f"SELECT parents FROM {HISTORY} WHERE revision = 'twoh0004join'"
    )
    assert sorted(parents.split()) == ["twoh0002left", "twoh0003right"]


@DIALECTS
def test_a_failed_revision_leaves_no_row(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    """The row is written in the revision's own transaction: a revision that fails leaves
    none, and the history ends at the last revision done."""
    url = fresh_url(request, dialect)
    with pytest.raises(MigrationFailedError):
        boot(url, SCRIPTS / "failing", "upgrade")
    done = query(url, "SELECT version_num FROM alembic_version")
    assert [row[0] for row in history(url)] == [version for (version,) in done]


@DIALECTS
@pytest.mark.parametrize("mode", ["check", "wait", "upgrade"])
def test_old_code_serves_a_database_ahead_by_compatible_revisions(
    dialect: str, mode: str, request: pytest.FixtureRequest, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Release 1 boots in every mode on a database release 2 migrated with expand-only
    revisions: state ahead_compatible, one warning naming them, nothing migrated, status
    exit 0 and health 200."""
    url = fresh_url(request, dialect)
    boot(url, release_2(tmp_path), "upgrade")
    rows = history(url)
    caplog.set_level(logging.WARNING, logger="flask_migration_guard")
    old = boot(url, RELEASE_1, mode)
    state = app_guard(old, "ibutsu_db_guard").last_state
    assert state is not None and state.name is StateName.AHEAD_COMPATIBLE
    assert state.ahead == ("rel0003", "rel0004")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = (
        "The database is ahead of this code by rel0003, rel0004, each recorded as backward"
        " compatible: serving it (a rolling deploy, or a rollback)"
    )
    assert [w for w in warnings if "ahead of this code" in w] == [expected]
    assert query(url, "SELECT version_num FROM alembic_version") == [("rel0004",)]
    assert history(url) == rows
    status = old.test_cli_runner().invoke(args=["db", "status"])
    assert status.exit_code == 0, status.output
    assert "state:   ahead_compatible" in status.output
    response = old.test_client().get("/api/health/database")
    assert response.status_code == 200
    assert response.get_json()["state"] == "ahead_compatible"


@DIALECTS
def test_a_contract_revision_in_between_is_refused_naming_the_downgrade(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A newer revision that drops a column: release 1 refuses in every mode, naming it
    and the downgrade to run with release 2 before rolling back."""
    url = fresh_url(request, dialect)
    boot(url, release_2(tmp_path, last="con0004"), "upgrade")
    for mode in ("check", "wait", "upgrade"):
        with pytest.raises(UnknownRevisionError) as refused:
            boot(url, RELEASE_1, mode)
        message = refused.value.message
        assert "ahead of this code by rel0003, con0004" in message, message
        assert "'con0004' is not backward compatible" in message, message
        assert "'flask --app ibutsu_server db downgrade rel0002'" in message, message
    assert query(url, "SELECT version_num FROM alembic_version") == [("con0004",)]


@DIALECTS
def test_after_the_new_release_downgrades_the_old_one_is_at_head(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A rollback across a contract revision: release 2 downgrades to release 1's head,
    then release 1 boots at head in check mode."""
    url = fresh_url(request, dialect)
    newer = boot(url, release_2(tmp_path, last="con0004"), "upgrade")
    result = newer.test_cli_runner().invoke(args=["db", "downgrade", OLD_HEAD])
    assert result.exit_code == 0, result.output
    old = boot(url, RELEASE_1, "check")
    state = app_guard(old, "ibutsu_db_guard").last_state
    assert state is not None and state.name is StateName.AT_HEAD


@DIALECTS
def test_without_history_a_newer_database_is_refused_as_before(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A database that plain Alembic migrated (no history table) is unknown to release 1,
    expand-only or not: nothing tells the guard what the newer revisions do."""
    from alembic import command

    from flask_migration_guard.scripts import alembic_config

    url = fresh_url(request, dialect)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            config = alembic_config(str(release_2(tmp_path)))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    with pytest.raises(UnknownRevisionError) as refused:
        boot(url, RELEASE_1, "check")
    assert "which the scripts do not know" in refused.value.message
    assert HISTORY not in table_names(url)


def test_model_comparison_leaves_the_history_out(
    ibutsu_db_empty_url: str, tmp_path: Path
) -> None:
    """After the guard migrated (history written), ``flask db check`` finds the models and
    the database the same, and autogenerate (``flask db migrate``) writes a revision that
    does not drop the history table."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    app = boot(ibutsu_db_empty_url, scripts, "upgrade")
    assert HISTORY in table_names(ibutsu_db_empty_url)
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    result = app.test_cli_runner().invoke(args=["db", "migrate", "-m", "nothing new"])
    assert result.exit_code == 0, result.output
    [written] = (scripts / "versions").glob("*nothing_new.py")
    assert HISTORY not in written.read_text()
    assert "def upgrade() -> None:\n    # ### commands auto generated" in written.read_text()


def test_a_rolling_update_fails_no_process(
    postgres_url: str, processes: Processes, tmp_path: Path
) -> None:
    """Eight processes at once: four of release 2 in upgrade mode, two of release 1 in
    check mode and two in wait mode, on a database at release 1's head. None fails; each
    old one serves at head or ahead_compatible, each new one at head."""
    boot(postgres_url, RELEASE_1, "upgrade")
    newer = release_2(tmp_path)
    start = tmp_path / "start"
    kinds = [("new", newer, "upgrade")] * 4 + [("old", RELEASE_1, "check")] * 2
    kinds += [("old", RELEASE_1, "wait")] * 2
    boots = []
    for number, (release, scripts, mode) in enumerate(kinds):
        config = app_config(postgres_url, mode, IBUTSU_DB_MIGRATIONS_DIR=str(scripts))
        del config["SQLALCHEMY_ENGINE_OPTIONS"]  # not JSON; the child pools as it likes
        boots.append((release, processes.boot(config, f"{release}{number}", start)))
    for _, process in boots:
        process.wait_for("READY")
    start.touch()
    everything = "\n".join(process.describe() for _, process in boots)
    for release, process in boots:
        assert process.wait() == 0, everything
        expected = {"at_head"} if release == "new" else {"at_head", "ahead_compatible"}
        assert process.result()["state"] in expected, everything
    assert query(postgres_url, "SELECT version_num FROM alembic_version") == [("rel0004",)]
    applied = query(
        postgres_url, f"SELECT revision, count(*) FROM {HISTORY} GROUP BY revision"
    )
    assert sorted(applied) == [(f"rel000{n}", 1) for n in range(1, 5)], everything


def _schema(url: str) -> dict[str, Any]:
    """What old code may rely on: each table's columns (type, nullable) and constraints."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        inspector = sa.inspect(engine)
        schema: dict[str, Any] = {}
        for table in inspector.get_table_names():
            if table in ("alembic_version", HISTORY):
                continue
            columns = {
                column["name"]: (str(column["type"]), column["nullable"])
                for column in inspector.get_columns(table)
            }
            constraints = {
                ("foreign key", fk["name"], tuple(fk["constrained_columns"]))
                for fk in inspector.get_foreign_keys(table)
            }
            constraints |= {
                ("unique", unique["name"], tuple(unique["column_names"]))
                for unique in inspector.get_unique_constraints(table)
            }
            constraints |= {
                ("check", check["name"], ()) for check in inspector.get_check_constraints(table)
            }
            primary = inspector.get_pk_constraint(table)
            constraints.add(("primary key", None, tuple(primary["constrained_columns"])))
            schema[table] = (columns, constraints)
        return schema
    finally:
        engine.dispose()


def contractions(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What a revision did that code at its parent may not survive: a table, column or
    constraint dropped or renamed, a column made NOT NULL or given another type."""
    found = []
    for table, (columns, constraints) in before.items():
        if table not in after:
            found.append(f"drops or renames table {table}")
            continue
        new_columns, new_constraints = after[table]
        for name, (type_, nullable) in columns.items():
            if name not in new_columns:
                found.append(f"drops or renames column {table}.{name}")
            elif nullable and not new_columns[name][1]:
                found.append(f"makes {table}.{name} NOT NULL")
            elif type_ != new_columns[name][0]:
                found.append(f"changes the type of {table}.{name}")
        found += [f"drops {kind} {name or columns} on {table}"
                  for kind, name, columns in constraints - new_constraints]
    return found


def _declared(directory: Path) -> list[tuple[str, bool]]:
    """Each revision of a linear chain, base first, with its declared compatibility."""
    from flask_migration_guard.history import declares_compatible
    from flask_migration_guard.scripts import Scripts

    script = Scripts(str(directory)).script
    return [
        (revision.revision, declares_compatible(revision.module))
        for revision in reversed(list(script.walk_revisions()))
    ]


def _checked(url: str, directory: Path) -> dict[str, list[str]]:
    """The contractions of each revision of ``directory``'s chain, applied one by one."""
    from guard_databases import migrate_to

    found = {}
    before = _schema(url)
    for revision, _ in _declared(directory):
        migrate_to(url, revision, str(directory))
        after = _schema(url)
        found[revision] = contractions(before, after)
        before = after
    return found


@DIALECTS
def test_every_revision_of_the_package_declares_what_it_does(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    """No revision of the package's chain claims backward_compatible while its upgrade
    drops, renames, narrows or tightens what code at its parent uses."""
    url = fresh_url(request, dialect)
    directory = Path(MIGRATIONS_DIR)
    found = _checked(url, directory)
    claims = dict(_declared(directory))
    wrong = {revision: found[revision] for revision, claimed in claims.items()
             if claimed and found[revision]}
    assert wrong == {}
    assert any(claims.values()), "no revision declares itself compatible: nothing checked"


@DIALECTS
def test_the_flag_check_tells_expand_from_contract(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The check behind the test above finds the dropped column of con0004 and nothing in
    the expand-only revisions, so a wrong flag would fail CI."""
    url = fresh_url(request, dialect)
    found = _checked(url, release_2(tmp_path, last="con0004"))
    assert found["con0004"] == ["drops or renames column items.note"]
    assert found["rel0002"] == found["rel0003"] == []


def test_a_new_revision_carries_the_flag(sqlite_url: str, tmp_path: Path) -> None:
    """``flask db revision`` writes ``backward_compatible = False`` with its one-line
    explanation: a new revision is not compatible until someone says so."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    app = boot(sqlite_url, scripts, "off")
    result = app.test_cli_runner().invoke(args=["db", "revision", "-m", "add a thing"])
    assert result.exit_code == 0, result.output
    [written] = [path for path in (scripts / "versions").glob("*add_a_thing.py")]
    text = written.read_text()
    assert "\n# True only if code at the parent revision runs correctly on this one" in text
    assert "\nbackward_compatible = False\n" in text


@DIALECTS
def test_history_applied_lists_the_history_newest_first(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``flask db history --applied``: a line per row, newest first, with when, direction,
    revision, duration, host and process, release, flag and message."""
    url = fresh_url(request, dialect)
    newer = boot(url, release_2(tmp_path), "upgrade")
    runner = newer.test_cli_runner()
    assert runner.invoke(args=["db", "downgrade"]).exit_code == 0
    result = runner.invoke(args=["db", "history", "--applied"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[3:5] for line in lines] == [
        ["downgrade", "rel0004"],
        ["upgrade", "rel0004"],
        ["upgrade", "rel0003"],
        ["upgrade", "rel0002"],
        ["upgrade", "rel0001"],
    ]
    version = metadata.version("ibutsu-server-db")
    assert lines[2].endswith(
        f"  {socket.gethostname()} pid {lines[2].split(' pid ')[1].split()[0]}"
        f" {version} backward compatible  Create tags"
    ), lines[2]
    assert " UTC  " in lines[0] and " ms  " in lines[0]


def test_history_applied_without_a_history_says_so(sqlite_url: str) -> None:
    """A database the guard never migrated: one line saying there is no history, exit 0."""
    app = boot(sqlite_url, RELEASE_1, "off")
    result = app.test_cli_runner().invoke(args=["db", "history", "--applied"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("No schema history")


def _edit(scripts: Path, revision: str, old: str, new: str) -> None:
    path = scripts / "versions" / f"{revision}.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@DIALECTS
def test_a_revision_edited_after_it_ran_is_warned_of_or_refused(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rel0003's code changes after it was applied: a boot warns, ``status`` names it (exit
    0), and with ``IBUTSU_DB_EDITED_REVISIONS=refuse`` the boot is refused."""
    url = fresh_url(request, dialect)
    scripts = release_2(tmp_path)
    boot(url, scripts, "upgrade")
    _edit(scripts, "rel0003", "primary_key=True))", "primary_key=True), sa.Column('x', sa.Text()))")
    caplog.set_level(logging.WARNING, logger="flask_migration_guard")
    app = boot(url, scripts, "check")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(w.startswith("The revision files of rel0003 changed after") for w in warnings)
    status = app.test_cli_runner().invoke(args=["db", "status"])
    assert status.exit_code == 0, status.output
    assert "edited:  rel0003" in status.stdout
    document = app.test_cli_runner().invoke(args=["db", "status", "--json"]).stdout
    assert '"edited": ["rel0003"]' in document
    with pytest.raises(EditedRevisionError) as refused:
        boot(url, scripts, "check", IBUTSU_DB_EDITED_REVISIONS="refuse")
    assert "IBUTSU_DB_EDITED_REVISIONS=refuse" in refused.value.message


def test_whitespace_and_comments_are_not_edits(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Reformatting a revision, or commenting it, changes nothing the history checks."""
    scripts = release_2(tmp_path)
    boot(sqlite_url, scripts, "upgrade")
    _edit(scripts, "rel0003", "def upgrade() -> None:\n", "# a note\n\ndef upgrade()  ->  None:\n")
    _edit(scripts, "rel0004", "['name'])", "[  'name'  ]  )  # by name")
    caplog.set_level(logging.WARNING, logger="flask_migration_guard")
    boot(sqlite_url, scripts, "check", IBUTSU_DB_EDITED_REVISIONS="refuse")
    assert not [r for r in caplog.records if "changed after" in r.getMessage()]


@DIALECTS
@pytest.mark.parametrize("history_kept", [False, True], ids=["no_history", "other_history"])
def test_an_unrecorded_newer_revision_of_ibutsu_is_still_refused(
    dialect: str, history_kept: bool, request: pytest.FixtureRequest
) -> None:
    """The real chain with 'ffffffffffff' in the version table: refused in every mode,
    whether the database has no history or one that does not record that revision."""
    from guard_databases import HEAD, execute, migrate_to

    url = fresh_url(request, dialect)
    if history_kept:
        boot(url, Path(MIGRATIONS_DIR), "upgrade")  # the guard writes the history
    else:
        migrate_to(url, HEAD)
    execute(url, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
    assert (HISTORY in table_names(url)) is history_kept
    for mode in ("check", "wait", "upgrade"):
        with pytest.raises(UnknownRevisionError) as refused:
            boot(url, Path(MIGRATIONS_DIR), mode)
        assert "'ffffffffffff', which the scripts do not know" in refused.value.message
