"""The migration lock under concurrency: parallel boots, waiters, timeouts, killed holders."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import filelock
import pytest
import sqlalchemy as sa
from guard_processes import (
    HOLDER_NAME,
    SCRIPTS,
    Process,
    Processes,
    advisory_lock_held,
    advisory_lock_session,
    boot,
    boot_config,
    query,
    table_names,
)

from ibutsu_server import MIGRATIONS_DIR
from flask_migration_guard.errors import LockTimeoutError
from ibutsu_server.guard_names import GUARD_NAMES
from flask_migration_guard.scripts import Scripts
from flask_migration_guard.lock import (
    MAX_POLL_INTERVAL_LISTENING,
    _wait_for_release,
    advisory_key,
)

WAITING = "Waiting for the migration lock"
_APPLIED = re.compile(r"flask_migration_guard\.actions: Applied (\S+)")


def applied(process: Process) -> list[str]:
    """The revisions a boot's log says it applied."""
    return _APPLIED.findall(process.log)


def chain(scenario: str | None) -> tuple[str, ...]:
    """Every revision of a script directory, base first."""
    revisions: tuple[str, ...] = Scripts(
        str(SCRIPTS / scenario) if scenario else MIGRATIONS_DIR
    ).pending(())
    return revisions


def sqlite_path(url: str) -> str:
    database = sa.make_url(url).database
    assert database
    return database


def file_lock_held(url: str) -> bool:
    """Whether another process holds the migration lock of the SQLite database at ``url``."""
    lock = filelock.FileLock(sqlite_path(url) + ".migration-lock")
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        return True
    lock.release()
    return False


def release(connection: sa.Connection) -> None:
    unlocked = connection.execute(
        sa.text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_key(GUARD_NAMES.lock)}
    ).scalar()
    assert unlocked


@pytest.mark.parametrize("scenario", [None, "slow"], ids=["real-chain", "slow"])
def test_six_parallel_boots_apply_each_revision_once(
    empty_url: str, scenario: str | None, processes: Processes, tmp_path: Path
) -> None:
    """Six processes booting at once on an empty database: one migrates, the others wait."""
    start = tmp_path / "start"
    config = boot_config(empty_url, scenario, IBUTSU_DB_LOCK_TIMEOUT=60)
    boots = [processes.boot(config, f"boot{number}", start) for number in range(6)]
    for process in boots:
        process.wait_for("READY")
    start.touch()

    codes = [process.wait() for process in boots]
    everything = "\n".join(process.describe() for process in boots)
    assert codes == [0] * 6, everything

    revisions = chain(scenario)
    for process in boots:
        assert process.result() == {"state": "at_head", "current": [revisions[-1]]}, everything
        assert "Traceback" not in process.log, everything
    assert sorted(sum((applied(process) for process in boots), [])) == sorted(revisions)
    migrating = [process for process in boots if applied(process)]
    assert len(migrating) == 1, everything
    assert applied(migrating[0]) == list(revisions)
    others = [process for process in boots if process is not migrating[0]]
    for process in others:
        last_line = process.log.strip().splitlines()[-1]
        assert WAITING in process.log or "at_head" in last_line, process.describe()
    if scenario == "slow":
        # Two seconds of migration: every other process arrived while it ran.
        assert all(WAITING in process.log for process in others), everything
        logged = query(empty_url, "SELECT revision FROM applied_log ORDER BY revision")
        assert logged == [(revision,) for revision in revisions]
    else:
        assert query(empty_url, "SELECT version_num FROM alembic_version") == [(revisions[-1],)]


def test_real_chain_with_concurrent_index_completes_while_another_process_waits(
    postgres_url: str, processes: Processes
) -> None:
    """CREATE INDEX CONCURRENTLY runs under the lock while another process polls for it."""
    config = boot_config(postgres_url, IBUTSU_DB_LOCK_TIMEOUT=60)
    with advisory_lock_session(postgres_url) as holder:
        boots = [processes.boot(config, f"boot{number}") for number in range(2)]
        for process in boots:
            process.wait_for(WAITING, in_log=True)
        release(holder)
        codes = [process.wait() for process in boots]
    everything = "\n".join(process.describe() for process in boots)
    assert codes == [0, 0], everything
    migrating = [process for process in boots if applied(process)]
    assert len(migrating) == 1, everything
    assert "d18de2b3253f" in applied(migrating[0])
    waiting = next(process for process in boots if process is not migrating[0])
    assert applied(waiting) == [] and waiting.result()["state"] == "at_head", everything
    index = query(
        postgres_url,
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = 'ix_runs_pass_percent'",
    )
    assert index == [(True,)]


def test_waiting_process_finds_head_and_does_not_migrate_again(
    empty_url: str, processes: Processes, tmp_path: Path
) -> None:
    """A process that finds the lock taken waits, then finds the database at head."""
    start = tmp_path / "start"
    config = boot_config(empty_url, "slow", IBUTSU_DB_LOCK_TIMEOUT=60)
    second = processes.boot(config, "second", start)
    second.wait_for("READY")
    first = processes.boot(config, "first")
    first.wait_for("Applied slow0001", in_log=True)
    start.touch()

    assert first.wait() == 0, first.describe()
    assert second.wait() == 0, second.describe()
    assert applied(first) == ["slow0001", "slow0002"]
    assert WAITING in second.log, second.describe()
    assert applied(second) == [], second.describe()
    assert "Another process brought the database to head" in second.log, second.describe()
    assert second.result() == {"state": "at_head", "current": ["slow0002"]}
    logged = query(empty_url, "SELECT revision FROM applied_log ORDER BY revision")
    assert logged == [("slow0001",), ("slow0002",)]


def test_lock_timeout_names_the_holder_and_writes_nothing_on_postgresql(
    postgres_url: str,
) -> None:
    """A lock held past IBUTSU_DB_LOCK_TIMEOUT: the error names the holding session."""
    with advisory_lock_session(postgres_url) as holder:
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with pytest.raises(LockTimeoutError) as caught:
            boot(boot_config(postgres_url, IBUTSU_DB_LOCK_TIMEOUT=1))
    message = caught.value.message
    assert f"backend pid {holder_pid}" in message
    assert HOLDER_NAME in message
    assert "IBUTSU_DB_LOCK_TIMEOUT" in message
    assert table_names(postgres_url) == set()


def test_lock_timeout_names_the_lock_file_and_writes_nothing_on_sqlite(
    sqlite_url: str, processes: Processes
) -> None:
    """A file lock held by another process past IBUTSU_DB_LOCK_TIMEOUT: the error names it."""
    lock_file = sqlite_path(sqlite_url) + ".migration-lock"
    holder = processes.hold_file_lock(lock_file)
    with pytest.raises(LockTimeoutError) as caught:
        boot(boot_config(sqlite_url, IBUTSU_DB_LOCK_TIMEOUT=1))
    holder.stop()
    message = caught.value.message
    assert repr(lock_file) in message
    assert "IBUTSU_DB_LOCK_TIMEOUT" in message
    assert table_names(sqlite_url) == set()


def test_killed_lock_holder_frees_the_lock(empty_url: str, processes: Processes) -> None:
    """SIGKILL a process holding the migration lock: the next boot gets it and migrates."""
    holder = processes.hold_migration_lock(empty_url)
    postgresql = empty_url.startswith("postgresql")
    held = advisory_lock_held if postgresql else file_lock_held
    assert held(empty_url)
    holder.kill()
    assert "RELEASED" not in holder.stdout

    state = boot(boot_config(empty_url, IBUTSU_DB_LOCK_TIMEOUT=10))
    assert state.at_head
    assert state.current == chain(None)[-1:]
    assert not held(empty_url)


def test_waiter_takes_over_from_a_holder_killed_without_notifying(
    empty_url: str, processes: Processes
) -> None:
    """A holder SIGKILLed while a boot waits sends no release notice: polling still finds the
    lock free, and the waiter migrates."""
    holder = processes.hold_migration_lock(empty_url)
    waiter = processes.boot(boot_config(empty_url, IBUTSU_DB_LOCK_TIMEOUT=30), "waiter")
    waiter.wait_for(WAITING, in_log=True)
    holder.kill()
    assert waiter.wait() == 0, waiter.describe()
    assert applied(waiter) == list(chain(None)), waiter.describe()
    assert waiter.result() == {"state": "at_head", "current": list(chain(None)[-1:])}


def test_waiting_process_holds_no_transaction_open(
    postgres_url: str, processes: Processes
) -> None:
    """While a process waits for the lock, none of its sessions is 'idle in transaction'."""
    name = f"ibutsu-waiter-{uuid.uuid4().hex[:8]}"  # this test's alone, on a shared server
    waiter_url = f"{postgres_url}?application_name={name}"
    with advisory_lock_session(postgres_url) as holder:
        waiter = processes.boot(boot_config(waiter_url, IBUTSU_DB_LOCK_TIMEOUT=60), "waiter")
        waiter.wait_for(WAITING, in_log=True)
        seen: list[tuple[Any, ...]] = []
        for _ in range(20):
            seen += holder.execute(
                sa.text(
                    "SELECT pid, state, xact_start FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": name},
            ).all()
            holder.execute(sa.text("SELECT pg_sleep(0.05)"))
        assert waiter.popen.poll() is None, waiter.describe()
        assert seen, "no session of the waiting process was found"
        assert "idle in transaction" not in {row[1] for row in seen}, seen
        assert all(row[2] is None for row in seen if row[1] == "idle"), seen
        release(holder)
        assert waiter.wait() == 0, waiter.describe()
    assert waiter.result()["state"] == "at_head"


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_a_release_notice_that_came_with_a_reply_wakes_the_waiter(
    postgres_url: str, driver: str
) -> None:
    """The holder's NOTIFY reached the waiter with the reply to its last query, before it
    began to wait: it wakes at once instead of sleeping until its next poll."""
    url = sa.engine.make_url(postgres_url).set(drivername=f"postgresql+{driver}")
    engine = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as waiter, engine.connect() as holder:
            waiter.exec_driver_sql(f"LISTEN {GUARD_NAMES.channel}")
            holder.exec_driver_sql(f"NOTIFY {GUARD_NAMES.channel}")
            waiter.exec_driver_sql("SELECT 1")  # the notice comes in with this reply
            started = time.monotonic()
            _wait_for_release(waiter, 0, started + 30)
            waited = time.monotonic() - started
    finally:
        engine.dispose()
    assert waited < MAX_POLL_INTERVAL_LISTENING / 2, f"slept {waited:.2f} s: the notice was missed"
