"""``flask db``: exit codes of ``db status`` in every state, and every command on both dialects.

Most tests go through ``app.test_cli_runner()`` with an app made in ``off``
mode, so the startup check does not stand in the way. The real path, where
the command loads the app itself and the startup check is skipped because a
``flask db`` command runs, is tested through ``FlaskGroup`` and, once per exit
code, in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import FlaskGroup
from guard_processes import Processes, TcpForwarder, free_port
from guard_databases import (
    CASES_BY_NAME,
    CHAIN,
    CLOSED_PORT_URL,
    HEAD,
    Case,
    app_config,
    case_params,
    fresh_url,
    migrate_to,
    snapshot,
    version_rows,
)

from ibutsu_server import create_app
from flask_migration_guard import StateName, heads
from flask_migration_guard.errors import MultipleHeadsError
from flask_migration_guard.scripts import Scripts

pytestmark = pytest.mark.usefixtures("clean_environment")

TESTS = Path(__file__).parent


EXIT_CODES = {
    StateName.AT_HEAD: 0,
    StateName.AHEAD_COMPATIBLE: 0,
    StateName.EMPTY: 3,
    StateName.BEHIND: 3,
    StateName.LEGACY: 3,
    StateName.LEGACY_TOO_OLD: 4,
    StateName.LEGACY_UNPROVEN: 4,
    StateName.UNVERSIONED: 4,
    StateName.UNKNOWN_REVISION: 4,
    StateName.BROKEN_VERSION_TABLE: 4,
    StateName.MULTIPLE_SCRIPT_HEADS: 4,
}


@pytest.fixture()
def head_url(request: pytest.FixtureRequest, empty_url: str) -> str:
    """A database of its own, at head."""
    migrate_to(empty_url, HEAD)
    return empty_url


def flask_db(url: str, *args: str, **config: Any) -> Result:
    """Run ``flask db ARGS`` on an app made in off mode."""
    app: Flask = create_app(app_config(url, "off", **config))
    return app.test_cli_runner().invoke(args=["db", *args])


def flask_db_loading_the_app(*args: str, **config: Any) -> Result:
    """Run ``flask db ARGS`` the way the flask command does: it loads the app to find
    the ``db`` group, then runs the command."""
    cli = FlaskGroup(create_app=lambda: create_app(app_config(**config)))
    return CliRunner().invoke(cli, ["db", *args])


@pytest.mark.parametrize(("case", "dialect"), case_params())
def test_status_exit_code(case: Case, dialect: str, case_url: str) -> None:
    """status exits 0 at head, 3 when an upgrade fixes the database, 4 when nothing may."""
    before = snapshot(case_url)
    result = flask_db(case_url, "status", **case.config)
    assert result.exit_code == EXIT_CODES[case.state], result.output
    assert f"state:   {case.state.value}\n" in result.output
    assert "head:    " in result.output and "pending: " in result.output
    assert snapshot(case_url) == before


def test_status_bad_mode_exits_2(sqlite_url: str) -> None:
    """A bad IBUTSU_DB_MIGRATE ends the command with exit code 2 and names the key."""
    result = flask_db_loading_the_app("status", url=sqlite_url, mode="sometimes")
    assert result.exit_code == 2, result.output
    assert "IBUTSU_DB_MIGRATE must be one of" in result.output
    assert "'sometimes'" in result.output


def test_status_unreachable_exits_2() -> None:
    """A database nobody answers for ends status, once the wait is over, with exit code 2,
    how long it tried, and the password masked."""
    result = flask_db(CLOSED_PORT_URL, "status", IBUTSU_DB_WAIT_TIMEOUT=0.5)
    assert result.exit_code == 2, result.output
    assert "Cannot connect to database 'ibutsu'" in result.output
    assert re.search(r"after trying for 0\.\d s", result.output), result.output
    assert "s3cret-pw" not in result.output


def test_a_command_waits_for_the_database(postgres_url: str) -> None:
    """``flask db status`` started before its database answers retries, saying so, until
    the database is there (a Job that starts before PostgreSQL)."""
    migrate_to(postgres_url, HEAD)
    parsed = sa.make_url(postgres_url)
    port = free_port()
    url = parsed.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    environment = dict(os.environ, SQLALCHEMY_DATABASE_URI=url, IBUTSU_DB_WAIT_TIMEOUT="60")
    command = [sys.executable, "-m", "flask", "--app", "ibutsu_server", "db", "status"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    assert process.stderr is not None
    first_lines = []
    for line in process.stderr:  # the first retry, before anything listens at the port
        first_lines.append(line)
        if "Database not reachable yet" in line:
            break
    forwarder = TcpForwarder(port, (parsed.host or "127.0.0.1", parsed.port or 5432))
    try:
        output, errors = process.communicate(timeout=60)
    finally:
        forwarder.close()
    assert process.returncode == 0, "".join(first_lines) + errors
    assert "retrying in" in first_lines[-1]
    assert "state:   at_head" in output


def test_upgrade_unreachable_exits_2() -> None:
    """upgrade on a database nobody answers for exits 2 too."""
    result = flask_db(CLOSED_PORT_URL, "upgrade", IBUTSU_DB_WAIT_TIMEOUT=0)
    assert result.exit_code == 2, result.output
    assert "Cannot connect to database 'ibutsu'" in result.output
    assert "s3cret-pw" not in result.output


def test_db_commands_skip_the_startup_check(empty_url: str) -> None:
    """In check mode an empty database stops the app; `flask db upgrade` still runs."""
    result = flask_db_loading_the_app("upgrade", url=empty_url, mode="check")
    assert result.exit_code == 0, result.output
    assert version_rows(empty_url) == [HEAD]


@pytest.mark.parametrize(
    ("environment", "exit_code", "words"),
    [
        ({}, 3, "state:   empty"),
        ({"IBUTSU_DB_MIGRATE": "sometimes"}, 2, "IBUTSU_DB_MIGRATE must be one of"),
    ],
    ids=["empty", "bad-mode"],
)
def test_status_in_a_subprocess(
    sqlite_url: str, environment: dict[str, str], exit_code: int, words: str
) -> None:
    """`python -m flask --app ibutsu_server db status`, as an operator types it."""
    env = {**os.environ, "SQLALCHEMY_DATABASE_URI": sqlite_url, **environment}
    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "ibutsu_server", "db", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == exit_code, completed.stdout + completed.stderr
    assert words in completed.stdout + completed.stderr


def test_upgrade(empty_url: str) -> None:
    """upgrade brings an empty database to head and shows the state."""
    result = flask_db(empty_url, "upgrade")
    assert result.exit_code == 0, result.output
    assert "state:   at_head\n" in result.output
    assert f"current: {HEAD}\n" in result.output
    assert "pending: none\n" in result.output
    assert version_rows(empty_url) == [HEAD]


def test_upgrade_to_a_revision(empty_url: str) -> None:
    """upgrade REVISION stops there; the rest is pending."""
    result = flask_db(empty_url, "upgrade", "53994db980f1")
    assert result.exit_code == 0, result.output
    assert "state:   behind\n" in result.output
    assert "pending: 8cf9148b9ad9, e5736dbcc0b0, d18de2b3253f\n" in result.output
    assert version_rows(empty_url) == ["53994db980f1"]


def test_upgrade_at_head_changes_nothing(head_url: str) -> None:
    """upgrade at head is a no-op that exits 0."""
    before = snapshot(head_url)
    result = flask_db(head_url, "upgrade")
    assert result.exit_code == 0, result.output
    assert "state:   at_head\n" in result.output
    assert snapshot(head_url) == before


def test_downgrade_one_step(head_url: str) -> None:
    """downgrade -1 steps back one revision."""
    result = flask_db(head_url, "downgrade", "-1")
    assert result.exit_code == 0, result.output
    assert "state:   behind\n" in result.output
    assert f"pending: {HEAD}\n" in result.output
    assert version_rows(head_url) == ["e5736dbcc0b0"]


def test_downgrade_to_a_revision(head_url: str) -> None:
    """downgrade REVISION goes back to it; upgrade then returns to head."""
    result = flask_db(head_url, "downgrade", "53994db980f1")
    assert result.exit_code == 0, result.output
    assert version_rows(head_url) == ["53994db980f1"]
    result = flask_db(head_url, "upgrade")
    assert result.exit_code == 0, result.output
    assert version_rows(head_url) == [HEAD]


def test_downgrade_to_base_then_upgrade(head_url: str) -> None:
    """downgrade base leaves nothing but an empty alembic_version; that is an empty
    database, and upgrade builds it again.
    """
    result = flask_db(head_url, "downgrade", "base")
    assert result.exit_code == 0, result.output
    assert "state:   empty\n" in result.output
    assert version_rows(head_url) == []
    result = flask_db(head_url, "upgrade")
    assert result.exit_code == 0, result.output
    assert version_rows(head_url) == [HEAD]


def test_stamp(head_url: str) -> None:
    """stamp REVISION rewrites alembic_version and runs nothing."""
    before = snapshot(head_url)
    result = flask_db(head_url, "stamp", "8cf9148b9ad9")
    assert result.exit_code == 0, result.output
    assert "state:   behind\n" in result.output
    assert version_rows(head_url) == ["8cf9148b9ad9"]
    assert snapshot(head_url).schema == before.schema


@pytest.mark.parametrize(("case", "dialect"), case_params([CASES_BY_NAME["at_head"]]))
def test_read_only_commands(case: Case, dialect: str, case_url: str) -> None:
    """current, heads, history and check at head: exit 0 and the expected lines."""
    before = snapshot(case_url)
    current = flask_db(case_url, "current")
    assert current.exit_code == 0, current.output
    assert f"{HEAD} (head)" in current.output
    heads = flask_db(case_url, "heads")
    assert heads.exit_code == 0, heads.output
    assert heads.output.strip() == f"{HEAD} (head)"
    history = flask_db(case_url, "history", "-i")
    assert history.exit_code == 0, history.output
    lines = history.output.strip().splitlines()
    assert len(lines) == len(CHAIN)
    assert lines[0].startswith(f"e5736dbcc0b0 -> {HEAD} (head) (current)")
    assert lines[-1].startswith(f"<base> -> {CHAIN[0]}")
    check = flask_db(case_url, "check")
    assert check.exit_code == 0, check.output
    assert "No new upgrade operations detected" in check.output
    assert snapshot(case_url) == before


def test_check_when_behind_fails(empty_url: str) -> None:
    """check on a database behind head fails: Alembic compares only an up-to-date database."""
    migrate_to(empty_url, "8cf9148b9ad9")
    result = flask_db(empty_url, "check")
    assert result.exit_code == 1, result.output
    assert "not up to date" in result.output


def test_current_verbose_and_history_range(head_url: str) -> None:
    """The options reach Alembic: -v shows details, -r limits the range."""
    current = flask_db(head_url, "current", "-v")
    assert current.exit_code == 0, current.output
    assert f"Rev: {HEAD} (head)" in current.output
    history = flask_db(head_url, "history", "-r", "53994db980f1:8cf9148b9ad9")
    assert history.exit_code == 0, history.output
    lines = history.output.strip().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "53994db980f1 -> 8cf9148b9ad9",
        "fc3df1d9ee4e -> 53994db980f1",
    ]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_status_json(dialect: str, request: pytest.FixtureRequest) -> None:
    """``status --json``: the health endpoint's fields, the detail and the lock holder, as
    one JSON object on standard output; the exit codes are those of ``status``."""
    url = fresh_url(request, dialect)
    migrate_to(url, CHAIN[-2])
    behind = flask_db(url, "status", "--json")
    assert behind.exit_code == 3, behind.output
    document = json.loads(behind.stdout)
    assert document == {
        "state": "behind",
        "current": [CHAIN[-2]],
        "head": [HEAD],
        "heads": [HEAD],
        "edited": [],
        "pending": [HEAD],
        "detail": "",
        "lock_holder": None,
    }
    assert "Target database is not up to date" in behind.stderr
    migrate_to(url, HEAD)
    at_head = flask_db(url, "status", "--json")
    assert at_head.exit_code == 0, at_head.output
    assert json.loads(at_head.stdout)["state"] == "at_head"


def test_status_json_names_the_lock_holder(postgres_url: str, processes: Processes) -> None:
    """While another process holds the migration lock, ``status --json`` says which backend."""
    migrate_to(postgres_url, HEAD)
    holder = processes.hold_migration_lock(postgres_url)
    try:
        result = flask_db(postgres_url, "status", "--json")
    finally:
        holder.kill()
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["lock_holder"]
    assert isinstance(found, dict) and isinstance(found["pid"], int), found
    assert set(found) == {"pid", "application_name", "client_addr"}


def test_the_multiple_heads_hint_works_as_printed(tmp_path: Path, sqlite_url: str) -> None:
    """The refusal for two script heads names a command; run as printed, it merges them."""
    scripts = tmp_path / "two_heads"
    shutil.copytree(
        TESTS / "scripts" / "two_heads", scripts, ignore=shutil.ignore_patterns("__pycache__")
    )
    with pytest.raises(MultipleHeadsError) as refused:
        create_app(app_config(sqlite_url, "check", IBUTSU_DB_MIGRATIONS_DIR=str(scripts)))
    hint = re.search(r"'flask --app ibutsu_server db (merge [^']*)'", refused.value.message)
    assert hint is not None, refused.value.message
    words = shlex.split(hint.group(1))
    result = flask_db(sqlite_url, *words, IBUTSU_DB_MIGRATIONS_DIR=str(scripts))
    assert result.exit_code == 0, result.output
    heads.forget(str(scripts))
    assert len(Scripts(str(scripts)).heads) == 1


@pytest.mark.parametrize(
    ("args", "shows"),
    [
        (("heads",), f"{HEAD} (head)"),
        (("history",), f"-> {HEAD} (head)"),
        (("show",), f"Rev: {HEAD} (head)"),
        (("show", CHAIN[0]), f"Rev: {CHAIN[0]}"),
        (("branches",), ""),
    ],
)
def test_commands_that_read_the_scripts_need_no_database(
    args: tuple[str, ...], shows: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """heads, history, show and branches read the script files alone: with nothing at the
    database's address, and a long wait configured, they answer at once."""
    result = flask_db(CLOSED_PORT_URL, *args, IBUTSU_DB_WAIT_TIMEOUT=3600)
    assert result.exit_code == 0, result.output
    assert shows in result.output + capfd.readouterr().out


def test_history_indicating_the_current_revision_needs_the_database() -> None:
    """``history -i`` marks the database's revision, so it waits for the database."""
    result = flask_db(CLOSED_PORT_URL, "history", "-i", IBUTSU_DB_WAIT_TIMEOUT=0)
    assert result.exit_code == 2, result.output
    assert "Cannot connect to database 'ibutsu'" in result.output
