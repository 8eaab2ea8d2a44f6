"""The guard's commands against Flask-Migrate's own, over one scratch migration folder.

A scratch app has both: Flask-Migrate's ``flask db`` and the guard's commands under
``flask guard``. Each step runs Flask-Migrate's command on one database and the guard's
on another, from the same state, and the two must end with the same exit code and the
same database (tables and version rows). Commands that write revision files run on two
copies of the folder, and must write the same file.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import FlaskGroup
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from flask_migration_guard import MigrationGuard, Names

pytestmark = [
    pytest.mark.usefixtures("clean_environment"),
    # Flask-Migrate's own env.py template calls Flask-SQLAlchemy's deprecated get_engine.
    pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning"),
]

NAMES = Names(prefix="PARITY_", extension_key="parity_guard", command="guard")


@pytest.fixture(autouse=True)
def logging_given_back() -> Iterator[None]:
    """Flask-Migrate's env.py configures logging from its alembic.ini for the whole process,
    disabling every logger that exists then; each test gives the loggers back."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    kept = [
        (logger, logger.disabled, logger.level, list(logger.handlers), logger.propagate)
        for logger in loggers
    ]
    yield
    for logger, disabled, level, handlers, propagate in kept:
        logger.disabled, logger.propagate = disabled, propagate
        logger.setLevel(level)
        logger.handlers[:] = handlers


def scratch_app(url: str, directory: Path) -> Callable[[], Flask]:
    """A factory of the scratch app: one model, Flask-Migrate and the guard (mode off)."""

    def make() -> Flask:
        db = SQLAlchemy()

        class Note(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "notes"
            id = db.Column(db.Integer, primary_key=True)
            text = db.Column(db.Text)

        app = Flask(__name__)
        app.config.update(
            SQLALCHEMY_DATABASE_URI=url,
            SQLALCHEMY_ENGINE_OPTIONS={"poolclass": sa.NullPool},
            PARITY_MIGRATE="off",
        )
        db.init_app(app)
        Migrate(app, db, directory=str(directory))
        MigrationGuard(app, directory=str(directory), names=NAMES)
        return app

    return make


def flask(make_app: Callable[[], Flask], *args: str) -> Result:
    return CliRunner().invoke(FlaskGroup(create_app=make_app), list(args))


def database(url: str) -> dict[str, Any]:
    """Tables and version rows: the effect the two commands must share."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            tables = sorted(sa.inspect(connection).get_table_names())
            rows = []
            if "alembic_version" in tables:
                rows = sorted(r[0] for r in connection.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ))
            return {"tables": tables, "version": rows}
    finally:
        engine.dispose()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A migration folder made by ``flask db init``, with two revisions."""
    directory = tmp_path / "migrations"
    make = scratch_app(f"sqlite:///{tmp_path / 'init.db'}", directory)
    assert flask(make, "db", "init").exit_code == 0
    versions = directory / "versions"
    create = "op.create_table('notes', sa.Column('id', sa.Integer, primary_key=True))"
    for revision, parent, body in (
        ("aaaa0001", None, create),
        ("aaaa0002", "aaaa0001", "op.add_column('notes', sa.Column('text', sa.Text))"),
    ):
        undo = (
            "op.drop_table('notes')"
            if parent is None
            else "with op.batch_alter_table('notes') as batch:\n        batch.drop_column('text')"
        )
        (versions / f"{revision}.py").write_text(
            f'"""{revision}"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
            f"revision = {revision!r}\ndown_revision = {parent!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n    {body}\n\n\ndef downgrade():\n    {undo}\n"
        )
    return directory


# Each step, the exit code Flask-Migrate gives it, and the version it leaves.
STEPS: list[tuple[tuple[str, ...], int, list[str]]] = [
    (("current",), 0, []),
    (("upgrade", "aaaa0001"), 0, ["aaaa0001"]),
    (("current", "-v"), 0, ["aaaa0001"]),
    (("history", "-i"), 0, ["aaaa0001"]),
    (("heads", "--resolve-dependencies"), 0, ["aaaa0001"]),
    (("show", "aaaa0001"), 0, ["aaaa0001"]),
    (("branches",), 0, ["aaaa0001"]),
    (("upgrade",), 0, ["aaaa0002"]),
    (("check",), 0, ["aaaa0002"]),
    (("downgrade",), 0, ["aaaa0001"]),
    (("stamp", "--purge", "aaaa0001"), 0, ["aaaa0001"]),
    (("downgrade", "base"), 0, []),
    (("stamp",), 0, ["aaaa0002"]),
    (("stamp", "-d", "{folder}", "base"), 0, []),
    (("upgrade", "nonexistent"), 1, []),
    (("downgrade", "aaaa0001:base", "--sql"), 0, []),
    (("upgrade", "--sql", "aaaa0001:aaaa0002"), 0, []),
    (("stamp", "--sql", "aaaa0002"), 0, []),
    (("upgrade", "-x", "anything=1", "--tag", "t1"), 0, ["aaaa0002"]),
]


def test_database_commands_match_flask_migrate(folder: Path, tmp_path: Path) -> None:
    """Step by step, the same exit code and the same database as Flask-Migrate."""
    theirs_url, ours_url = (f"sqlite:///{tmp_path / name}" for name in ("fm.db", "guard.db"))
    theirs, ours = scratch_app(theirs_url, folder), scratch_app(ours_url, folder)
    for template, exit_code, version in STEPS:
        step = [word.format(folder=folder) for word in template]
        expected = flask(theirs, "db", *step)
        assert expected.exit_code == exit_code, (step, expected.output)
        got = flask(ours, "guard", *step)
        assert got.exit_code == exit_code, (step, got.output)
        assert database(ours_url) == database(theirs_url), step
        assert database(ours_url)["version"] == version, step


@pytest.mark.parametrize(
    "args",
    [
        ("revision", "-m", "empty one", "--rev-id", "bbbb0003"),
        ("revision", "-m", "spliced", "--rev-id", "bbbb0004", "--head", "aaaa0001", "--splice"),
        ("revision", "-m", "labelled", "--rev-id", "bbbb0005", "--branch-label", "side"),
        ("merge", "-m", "nothing to merge", "--rev-id", "bbbb0006", "aaaa0002"),
    ],
    ids=lambda args: "-".join(args[:3]),
)
def test_revision_files_match_flask_migrate(
    args: tuple[str, ...], folder: Path, tmp_path: Path
) -> None:
    """Commands that write a revision write the same file, in their own copy of the folder."""
    copies = [tmp_path / name for name in ("fm", "guard")]
    results = []
    for copy, group in zip(copies, ("db", "guard")):
        shutil.copytree(folder, copy)
        make = scratch_app(f"sqlite:///{tmp_path / (group + '.db')}", copy)
        results.append(flask(make, group, *args))
    assert results[0].exit_code == results[1].exit_code, [r.output for r in results]
    written = [sorted(p.name for p in (c / "versions").glob("bbbb*.py")) for c in copies]
    assert written[0] == written[1]
    for name in written[0]:
        texts = [
            re.sub(r"Create Date: .*", "", (copy / "versions" / name).read_text())
            for copy in copies
        ]
        assert texts[0] == texts[1], name


def test_migrate_autogenerates_as_flask_migrate_does(folder: Path, tmp_path: Path) -> None:
    """``migrate`` compares the models with the database: from aaaa0001 the missing
    column is found by both, in the same revision body."""
    copies = [tmp_path / name for name in ("fm", "guard")]
    bodies = []
    for copy, group in zip(copies, ("db", "guard")):
        shutil.copytree(folder, copy)
        (copy / "versions" / "aaaa0002.py").unlink()
        make = scratch_app(f"sqlite:///{tmp_path / (group + '.db')}", copy)
        assert flask(make, group, "upgrade").exit_code == 0
        result = flask(make, group, "migrate", "-m", "add text", "--rev-id", "cccc0002")
        assert result.exit_code == 0, result.output
        text = (copy / "versions" / "cccc0002_add_text.py").read_text()
        bodies.append(text[text.index("def upgrade"):])
    assert bodies[0] == bodies[1]
    assert "add_column(sa.Column('text'" in bodies[0]
