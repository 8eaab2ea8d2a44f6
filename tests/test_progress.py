"""A migration tells what it is doing: each revision's start, a line while a long one runs,
and its end; on a terminal, ``flask db upgrade`` shows it as a bar."""

from __future__ import annotations

import logging
import os
import pty
import subprocess
import sys

import pytest
from guard_processes import SCRIPTS, boot_config

from flask_migration_guard import progress
from ibutsu_server import create_app

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_each_revision_is_announced_and_a_long_one_reported(
    sqlite_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two revisions of a second each, told every 0.2 s: start, running, done, in order."""
    monkeypatch.setattr(progress, "PROGRESS_INTERVAL", 0.2)
    caplog.set_level(logging.INFO, logger="flask_migration_guard")
    create_app(boot_config(sqlite_url, "slow"))
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "flask_migration_guard.actions"
    ]
    kinds = []
    for line in lines:
        kind = line.split(" (")[0].split(" in ")[0].split(" after ")[0]
        if not kinds or kinds[-1] != kind:
            kinds.append(kind)
    assert kinds == [
        "Applying slow0001, revision 1 of 2",
        "Revision slow0001 still running",
        "Applied slow0001",
        "Applying slow0002, revision 2 of 2",
        "Revision slow0002 still running",
        "Applied slow0002",
    ], lines


def _flask_db_upgrade(sqlite_url: str, terminal: bool) -> str:
    """What ``flask db upgrade`` of the slow scenario writes, on a terminal or to a pipe."""
    environment = dict(
        os.environ,
        SQLALCHEMY_DATABASE_URI=sqlite_url,
        IBUTSU_DB_MIGRATIONS_DIR=str(SCRIPTS / "slow"),
        COLUMNS="200",
    )
    command = [sys.executable, "-m", "flask", "--app", "ibutsu_server", "db", "upgrade"]
    if not terminal:
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        assert result.returncode == 0, result.stderr
        return result.stderr + result.stdout
    main, other = pty.openpty()
    process = subprocess.Popen(command, stdout=other, stderr=other, env=environment)
    os.close(other)
    output = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the other end closed: all is read
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    assert process.wait(timeout=60) == 0, output
    return output.decode()


def test_on_a_terminal_upgrade_shows_a_bar(sqlite_url: str) -> None:
    """On a terminal: one line redrawn, with revision n of N, its id and name and its time,
    instead of the lines; the state follows on a line of its own."""
    output = _flask_db_upgrade(sqlite_url, terminal=True)
    frames = output.split("\r")
    assert "revision 1 of 2: slow0001 Create applied_log" in output, output
    assert "revision 2 of 2: slow0002 Create table two" in output, output
    assert any(frame.rstrip().endswith(", 1 s") for frame in frames), output
    assert "Applying slow0001" not in output and "Applied slow0001" not in output
    assert "\nstate:   at_head" in output.replace("\r\n", "\n"), output


def test_not_on_a_terminal_upgrade_writes_lines(sqlite_url: str) -> None:
    """To a pipe: the plain lines, and no bar."""
    output = _flask_db_upgrade(sqlite_url, terminal=False)
    assert "Applying slow0001, revision 1 of 2" in output, output
    assert "Applied slow0002" in output, output
    assert "Upgrading" not in output and "\r" not in output, output
