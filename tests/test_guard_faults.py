"""The guard when the migrating process dies: SIGKILL in the middle of a revision.

A revision that raises is covered in test_guard_failures.py; here nothing
raises, the process is simply gone, its transaction and its lock with it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from guard_databases import DIALECTS, fresh_url, version_rows
from guard_processes import Processes, boot_config, query, table_names, wait_until

from ibutsu_server import create_app
from ibutsu_server.db import db
from flask_migration_guard import StateName
from flask_migration_guard.appstate import app_guard

FIRST = "kill0001"
SECOND = "kill0002"
MARKER_VARIABLE = "IBUTSU_TEST_MARKER"
NO_SLEEP_VARIABLE = "IBUTSU_TEST_NO_SLEEP"
LOCK_TIMEOUT = 10.0


@pytest.mark.parametrize("dialect", DIALECTS)
def test_killed_in_the_middle_of_a_revision(
    request: pytest.FixtureRequest,
    dialect: str,
    tmp_path: Path,
    processes: Processes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGKILL while revision 2 sleeps with table b made: the database stays at revision 1,
    nothing of revision 2 is left, and the next boot gets the lock and reaches head.
    """
    url = fresh_url(request, dialect)
    marker = tmp_path / "revision-2-started"
    monkeypatch.setenv(MARKER_VARIABLE, str(marker))
    monkeypatch.delenv(NO_SLEEP_VARIABLE, raising=False)

    first = processes.boot(boot_config(url, "killable"), "first")
    wait_until(
        lambda: marker.exists() or first.popen.poll() is not None, "revision 2 to start"
    )
    assert marker.exists(), f"the boot ended before revision 2\n{first.describe()}"
    first.kill()
    if dialect == "sqlite":
        # Killed with its transaction open: SQLite left a hot journal for the next reader.
        assert Path(f"{sa.make_url(url).database}-journal").exists()
    assert f"Applied {FIRST}" in first.log and f"Applied {SECOND}" not in first.log

    # What the next process finds: revision 1, whole; nothing of revision 2.
    assert version_rows(url) == [FIRST]
    assert table_names(url) == {"alembic_version", "alembic_version_history", "a"}
    assert query(url, "SELECT id FROM a") == [(1,)]

    monkeypatch.setenv(NO_SLEEP_VARIABLE, "1")
    monkeypatch.delenv(MARKER_VARIABLE)
    config = boot_config(url, "killable", IBUTSU_DB_LOCK_TIMEOUT=LOCK_TIMEOUT)
    started = time.monotonic()
    app = create_app({**config, "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": sa.NullPool}})
    elapsed = time.monotonic() - started
    with app.app_context():
        db.engine.dispose()

    state = app_guard(app).last_state
    assert state is not None and state.name is StateName.AT_HEAD
    assert state.current == (SECOND,)
    # A bound, not a speed claim: a lock still held would have ended in LockTimeoutError.
    assert elapsed < LOCK_TIMEOUT
    assert version_rows(url) == [SECOND]
    assert table_names(url) == {"alembic_version", "alembic_version_history", "a", "b", "c"}
    assert query(url, "SELECT id FROM a") == [(1,)]
    assert query(url, "SELECT id FROM b") == [(1,)]
