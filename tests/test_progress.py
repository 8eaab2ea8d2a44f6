"""A migration tells what it is doing: each revision's start, a line while a long one runs,
and its end."""

from __future__ import annotations

import logging

import pytest
from guard_processes import boot_config

from flask_migration_guard import actions
from ibutsu_server import create_app

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_each_revision_is_announced_and_a_long_one_reported(
    sqlite_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two revisions of a second each, told every 0.2 s: start, running, done, in order."""
    monkeypatch.setattr(actions, "PROGRESS_INTERVAL", 0.2)
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
