"""How the guard's commands join an app's CLI: added by ``init_app`` under the name the
app gives (or none), beside the app's own ``db`` group or Flask-Migrate's, and
usable when the startup check would refuse the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from example_app import MIGRATIONS, NAMES, Note, db, detect_old_notes
from flask import Flask
from flask.cli import FlaskGroup
from flask_migrate import Migrate
from guard_databases import app_config, version_rows

from ibutsu_server import create_app
from flask_migration_guard import MigrationGuard, Names

pytestmark = pytest.mark.usefixtures("clean_environment")

TESTS = Path(__file__).parent


def notes_app(url: str, mode: str, names: Names = NAMES, own_db_group: bool = False) -> Flask:
    """The notes app, with a ``notes count`` command and, if asked, a ``db`` group of its own."""
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS={"poolclass": sa.NullPool},
        NOTES_DB_MIGRATE=mode,
    )
    db.init_app(app)

    @app.cli.command("count")
    def count() -> None:
        click.echo(f"{db.session.query(Note).count()} notes")

    if own_db_group:

        @app.cli.group("db")
        def own_db() -> None:
            """The app's own database commands."""

        @own_db.command("hello")
        def hello() -> None:
            click.echo("the app's own db group")

    MigrationGuard(app, directory=MIGRATIONS, legacy_detector=detect_old_notes, names=names)
    return app


def flask(make_app: object, *args: str) -> Result:
    """``flask ARGS`` as the flask command runs it: the app is loaded to find the command."""
    return CliRunner().invoke(FlaskGroup(create_app=make_app), list(args))  # type: ignore[arg-type]


def notes_version(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.exec_driver_sql("SELECT * FROM notes_version")]
    finally:
        engine.dispose()


def test_the_apps_own_db_group_stays_its_own(sqlite_url: str) -> None:
    """With the guard's commands named ``schema``, ``flask db`` is still the app's."""
    make_app = lambda: notes_app(sqlite_url, "upgrade", own_db_group=True)  # noqa: E731
    result = flask(make_app, "db", "hello")
    assert result.exit_code == 0, result.output
    assert "the app's own db group" in result.output
    result = flask(make_app, "schema", "status")
    assert result.exit_code == 3, result.output  # 'db hello' used no database: none migrated
    assert "state:   empty" in result.output


def test_a_taken_name_is_refused(sqlite_url: str) -> None:
    """The guard never replaces a command the app already has."""
    names = Names(prefix="NOTES_DB_", command="db", version_table="notes_version")
    with pytest.raises(RuntimeError, match="already has a 'db' command"):
        notes_app(sqlite_url, "upgrade", names=names, own_db_group=True)


def test_no_commands_when_the_name_is_none(sqlite_url: str) -> None:
    """``Names(command=None)`` adds no command at all."""
    names = Names(prefix="NOTES_DB_", command=None, version_table="notes_version")
    app = notes_app(sqlite_url, "upgrade", names=names)
    assert sorted(app.cli.commands) == ["count"]


def test_beside_flask_migrate(sqlite_url: str, capfd: pytest.CaptureFixture[str]) -> None:
    """An app with Flask-Migrate keeps its ``flask db``; the guard's commands live beside it."""

    def make_app() -> Flask:
        app = Flask(__name__)
        app.config.update(SQLALCHEMY_DATABASE_URI=sqlite_url, NOTES_DB_MIGRATE="upgrade")
        db.init_app(app)
        Migrate(app, db, directory=MIGRATIONS)
        MigrationGuard(app, directory=MIGRATIONS, names=NAMES)
        return app

    result = flask(make_app, "db", "heads")
    assert result.exit_code == 0, result.output
    # Flask-Migrate's own output, which Alembic writes to the process's standard output
    assert "note0002 (head)" in capfd.readouterr().out
    result = flask(make_app, "schema", "upgrade")
    assert result.exit_code == 0, result.output
    assert "state:   at_head" in result.output
    assert notes_version(sqlite_url) == ["note0002"]


def test_the_commands_run_where_check_mode_would_refuse(sqlite_url: str) -> None:
    """In check mode on an empty database the app would not boot, yet ``flask schema
    upgrade`` runs: looking the command up does not run the startup check."""
    make_app = lambda: notes_app(sqlite_url, "check")  # noqa: E731
    listing = flask(make_app, "--help")
    assert listing.exit_code == 0, listing.output
    assert "schema" in listing.output and "count" in listing.output
    assert version_rows(sqlite_url) is None  # listing the commands wrote nothing

    upgraded = flask(make_app, "schema", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert notes_version(sqlite_url) == ["note0002"]
    counted = flask(make_app, "count")
    assert counted.exit_code == 0, counted.output
    assert "0 notes" in counted.output


def test_another_command_meets_the_startup_check(sqlite_url: str) -> None:
    """Any other command that uses the database gets the startup check first, and its
    refusal, as a clean error with the guard's exit code."""
    result = flask(lambda: notes_app(sqlite_url, "check"), "count")
    assert result.exit_code == 3, result.output
    assert "Error: Target database is not up to date" in result.output
    assert "flask --app example_app schema upgrade" in result.output
    assert "Traceback" not in result.output


def test_flask_db_upgrade_with_the_flask_command(tmp_path: Path) -> None:
    """The real ``flask`` command, in check mode on an empty database: ``db upgrade``
    migrates it, and a refused ``db status`` is one clean error line."""
    url = f"sqlite:///{tmp_path / 'ibutsu.db'}"
    environment = dict(
        os.environ, SQLALCHEMY_DATABASE_URI=url, IBUTSU_DB_MIGRATE="check", PYTHONPATH=str(TESTS)
    )
    flask_command = [sys.executable, "-m", "flask", "--app", "ibutsu_server"]
    status = subprocess.run(
        [*flask_command, "db", "status"], capture_output=True, text=True, env=environment
    )
    assert status.returncode == 3, status.stderr
    assert "Traceback" not in status.stderr
    upgrade = subprocess.run(
        [*flask_command, "db", "upgrade"], capture_output=True, text=True, env=environment
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert "state:   at_head" in upgrade.stdout
    assert create_app(app_config(url, "check"))


def test_a_bad_setting_is_one_clean_error(tmp_path: Path) -> None:
    """A bad setting met while the flask command loads the app: ``Error: ...``, exit 2."""
    environment = dict(
        os.environ,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'ibutsu.db'}",
        IBUTSU_DB_MIGRATE="sometimes",
    )
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "ibutsu_server", "db", "status"],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: IBUTSU_DB_MIGRATE must be one of"), result.stderr
    assert "Traceback" not in result.stderr


def test_a_refused_flask_run_is_one_error_line(tmp_path: Path) -> None:
    """``flask run`` on a database check mode refuses: the message, exit 3, no traceback,
    and no server started."""
    environment = dict(
        os.environ,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.db'}",
        IBUTSU_DB_MIGRATE="check",
    )
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "ibutsu_server", "run", "--port", "1"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("Error: Target database is not up to date"), result.stderr
    assert "Traceback" not in result.stderr and "Running on" not in result.stderr


@pytest.mark.parametrize("preload", [False, True], ids=["workers", "preload"])
def test_a_refused_gunicorn_boot_is_one_error_line(tmp_path: Path, preload: bool) -> None:
    """gunicorn on ibutsu_server.wsgi:app, refused in check mode: the guard's one line, no
    traceback, and gunicorn stops (exit 3) instead of starting workers again."""
    environment = dict(
        os.environ,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.db'}",
        IBUTSU_DB_MIGRATE="check",
    )
    # One worker: when several fail at once, gunicorn's own halt can trip over the second
    # one's exit and print a traceback of its own (HaltServer); --preload avoids that.
    command = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1"]
    result = subprocess.run(
        [*command, *(["--preload"] if preload else []), "ibutsu_server.wsgi:app"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors and errors[0].startswith("Error: Target database is not up to date")
    assert "Traceback" not in result.stderr, result.stderr


# A script that builds the app itself; with "debug", it asks for the guard's DEBUG lines.
_SCRIPT = """
import logging, sys
if sys.argv[1:] == ["debug"]:
    logging.getLogger("flask_migration_guard").setLevel(logging.DEBUG)
from ibutsu_server import create_app
create_app()
print("served")
"""


@pytest.mark.parametrize("debug", [False, True], ids=["default", "debug"])
def test_a_refused_create_app_in_a_script_is_one_error_line(tmp_path: Path, debug: bool) -> None:
    """A script whose ``create_app()`` is refused, uncaught: the guard's one line and a
    non-zero exit, no traceback; at DEBUG the whole traceback."""
    environment = dict(
        os.environ,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.db'}",
        IBUTSU_DB_MIGRATE="check",
    )
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *(["debug"] if debug else [])],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "served" not in result.stdout
    if debug:
        assert "Traceback (most recent call last)" in result.stderr, result.stderr
        assert "NotUpToDateError: Target database is not up to date" in result.stderr
    else:
        assert result.stderr.startswith("Error: Target database is not up to date"), (
            result.stderr
        )
        assert result.stderr.count("\n") == 1, result.stderr
