"""SIGTERM (a Kubernetes rollout) and SIGINT during a migration, and SIGKILL on PostgreSQL.

The migrating process is stopped while its revision runs a long statement on
the server (PostgreSQL) or sleeps in its transaction (SQLite): the statement
is cancelled, the transaction rolled back, the lock released, one log line
says where the database stays, and the process exits non-zero.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from guard_processes import (
    Process,
    Processes,
    advisory_lock_held,
    advisory_lock_holders,
    boot_config,
    query,
    table_names,
    wait_until,
)
from test_guard_concurrency import file_lock_held

SCENARIO = "sleeping"


def _start(
    url: str, processes: Processes, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> Process:
    monkeypatch.setenv("IBUTSU_TEST_MARKER", str(marker))
    process = processes.boot(boot_config(url, SCENARIO, IBUTSU_DB_LOCK_TIMEOUT=60), "migrating")
    wait_until(marker.exists, "the long revision to begin")
    if url.startswith("postgresql"):
        wait_until(lambda: bool(_sleeping(url)), "pg_sleep to run on the server")
    return process


def _sleeping(url: str) -> list[tuple[int]]:
    """Backends of this database running the revision's long statement."""
    return query(
        url,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND query LIKE 'SELECT pg_sleep(60)%'",
    )


def _lock_held(url: str) -> bool:
    return advisory_lock_held(url) if url.startswith("postgresql") else file_lock_held(url)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_migration_cleanly(
    empty_url: str, processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    signum: signal.Signals,
) -> None:
    """The second revision is stopped mid-way: nothing of it stays, and the next boot goes on."""
    process = _start(empty_url, processes, tmp_path / "marker", monkeypatch)
    os.kill(process.pid, signum)
    assert process.wait() != 0, process.describe()
    result = process.result()
    assert result["error"] == "MigrationInterruptedError", process.describe()
    message = result["message"]
    assert message.startswith(f"Stopped by {signum.name} during revision 'sleep0002'"), message
    assert "The database stays at 'sleep0001'" in message, message
    stopped_lines = [line for line in process.log.splitlines() if "Stopped by" in line]
    assert len(stopped_lines) == 1, process.describe()
    assert "Traceback" not in process.log, process.describe()

    if empty_url.startswith("postgresql"):
        assert _sleeping(empty_url) == [], "the statement still runs on the server"
    assert not _lock_held(empty_url)
    assert query(empty_url, "SELECT version_num FROM alembic_version") == [("sleep0001",)]
    assert "b" not in table_names(empty_url)

    monkeypatch.setenv("IBUTSU_TEST_NO_SLEEP", "1")
    again = processes.boot(boot_config(empty_url, SCENARIO), "again")
    assert again.wait() == 0, again.describe()
    assert query(empty_url, "SELECT version_num FROM alembic_version") == [("sleep0002",)]


@pytest.mark.ibutsu_db_dialects("postgresql")
def test_sigkill_leaves_no_statement_or_lock_behind(
    empty_url: str, processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed holder cannot clean up: the server ends its statement and its lock itself."""
    process = _start(empty_url, processes, tmp_path / "marker", monkeypatch)
    [holder] = advisory_lock_holders(empty_url)
    process.kill()
    # The statement would run for 60 s; the server must end it within the holder's bound.
    wait_until(
        lambda: _sleeping(empty_url) == [], "the server to end the orphaned statement", timeout=20
    )
    wait_until(lambda: not advisory_lock_held(empty_url), "the lock to be released", timeout=5)
    assert query(
        empty_url, "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid", pid=holder
    ) == [(0,)]
    assert "b" not in table_names(empty_url)


@pytest.fixture()
def empty_url(ibutsu_db_empty_url: str) -> str:
    """A new empty database, once per dialect."""
    return ibutsu_db_empty_url
