"""Migrating through PgBouncer: never two processes migrating at once, no lock left behind.

In transaction mode a client's statements reach whichever server session is
free, so a session-level lock means nothing unless every migration
transaction runs in the session that holds it. The guard checks that before
each transaction and stops otherwise; a lock left on a pooled session is
ended with that session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from guard_processes import (
    Process,
    Processes,
    advisory_lock_held,
    boot_config,
    query,
    table_names,
)
from guard_databases import migrate_to
from pgbouncer import pgbouncer

from flask_migration_guard import lock
from test_guard_concurrency import applied, chain

BOOTS = 8
REVISIONS = chain("slow")


def _boot_all(processes: Processes, config: dict[str, object], start: Path) -> list[Process]:
    boots = [processes.boot(config, f"boot{number}", start) for number in range(BOOTS)]
    for process in boots:
        process.wait_for("READY")
    start.touch()
    for process in boots:
        process.wait(timeout=180)
    return boots


def _through(template: str, url: str) -> str:
    database = sa.make_url(url).database
    assert database
    return template.format(database=database)


def _applications(direct_url: str) -> dict[str, int]:
    if "applied_log" not in table_names(direct_url):
        return {}
    rows = query(direct_url, "SELECT revision, count(*) FROM applied_log GROUP BY revision")
    return {revision: count for revision, count in rows}


@pytest.mark.parametrize("round_", [1, 2])
def test_transaction_mode_migrates_each_revision_once_or_stops(
    postgres_server_url: str, postgres_url: str, processes: Processes, tmp_path: Path,
    round_: int,
) -> None:
    """Eight boots at once through a transaction pooler: no revision runs twice, every boot
    either reaches head or stops with the pooler named, and no lock stays behind."""
    with pgbouncer(postgres_server_url, "transaction") as template:
        config = boot_config(_through(template, postgres_url), "slow", IBUTSU_DB_LOCK_TIMEOUT=120)
        boots = _boot_all(processes, config, tmp_path / "start")
        everything = "\n".join(process.describe() for process in boots)
        for process in boots:
            result = process.result()
            if "state" in result:
                assert result["state"] == "at_head", everything
            else:
                assert "pool_mode = transaction" in result["message"], everything
                assert "Traceback" not in process.log, everything
        applications = _applications(postgres_url)
        assert all(count == 1 for count in applications.values()), (applications, everything)
        assert sorted(applications) == sorted(REVISIONS[: len(applications)]), everything
        ran = sum((applied(process) for process in boots), [])
        assert sorted(ran) == sorted(applications), everything
        versions = query(postgres_url, "SELECT version_num FROM alembic_version")
        assert versions == ([(REVISIONS[len(applications) - 1],)] if applications else []), (
            everything
        )
        assert not advisory_lock_held(postgres_url), "a lock stayed on a pooled session"


def test_session_mode_migrates_once(
    postgres_server_url: str, postgres_url: str, processes: Processes, tmp_path: Path
) -> None:
    """Through a session pooler the lock works as on a direct connection: all boot, one migrates."""
    with pgbouncer(postgres_server_url, "session", pool_size=20) as template:
        config = boot_config(_through(template, postgres_url), "slow", IBUTSU_DB_LOCK_TIMEOUT=120)
        boots = _boot_all(processes, config, tmp_path / "start")
        everything = "\n".join(process.describe() for process in boots)
        assert [process.result().get("state") for process in boots] == ["at_head"] * BOOTS, (
            everything
        )
        assert _applications(postgres_url) == dict.fromkeys(REVISIONS, 1)
        assert len([process for process in boots if applied(process)]) == 1, everything
        assert not advisory_lock_held(postgres_url)


@pytest.mark.ibutsu_db_dialects("postgresql")
@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
@pytest.mark.parametrize("mode", ["check", "wait"])
def test_check_and_wait_through_a_pooler(
    postgres_server_url: str, ibutsu_db_url: str, processes: Processes, tmp_path: Path,
    mode: str, pool_mode: str,
) -> None:
    """Modes that only read boot through either kind of pooler on a database at head."""
    # Session mode gives each client a server session of its own: room for all of them.
    size = 20 if pool_mode == "session" else 4
    with pgbouncer(postgres_server_url, pool_mode, pool_size=size) as template:
        config = {"SQLALCHEMY_DATABASE_URI": _through(template, ibutsu_db_url),
                  "IBUTSU_DB_MIGRATE": mode}
        boots = _boot_all(processes, config, tmp_path / "start")
        everything = "\n".join(process.describe() for process in boots)
        assert [process.result().get("state") for process in boots] == ["at_head"] * BOOTS, (
            everything
        )


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("upgrade", "LockTimeoutError", "The migration lock is held by"),
        ("wait", "NotUpToDateError", "for another process to bring the database to head"),
    ],
)
def test_waiters_sharing_one_server_session_wait_out_their_timeout(
    postgres_server_url: str, postgres_url: str, processes: Processes, tmp_path: Path,
    mode: str, error: str, words: str,
) -> None:
    """Two boots on psycopg 3 wait through a one-session transaction pooler, for a lock held
    elsewhere or for the head: each repeats its reads on the server session the other
    uses too, where statements psycopg prepared would clash by name, and both end with
    their own timeout."""
    migrate_to(postgres_url, "cacecc4f1237")  # reads that succeed: nothing rolls back
    holder = processes.hold_migration_lock(postgres_url)
    with pgbouncer(postgres_server_url, "transaction", pool_size=1) as template:
        url = sa.make_url(_through(template, postgres_url)).set(drivername="postgresql+psycopg")
        config = boot_config(
            url.render_as_string(hide_password=False),
            IBUTSU_DB_MIGRATE=mode, IBUTSU_DB_LOCK_TIMEOUT=8, IBUTSU_DB_WAIT_TIMEOUT=8,
        )
        boots = [processes.boot(config, f"waiter{number}") for number in range(2)]
        for process in boots:
            process.wait(timeout=120)
    holder.stop()
    everything = "\n".join(process.describe() for process in boots)
    for process in boots:
        assert process.result().get("error") == error, everything
        assert words in process.result()["message"], everything


def _proves_direct(url: str, **connect_args: str) -> bool:
    engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return lock._direct(connection.execution_options(isolation_level="AUTOCOMMIT"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_only_a_connection_the_server_sees_itself_skips_the_session_checks(
    postgres_server_url: str, postgres_url: str, driver: str
) -> None:
    """The per-transaction lock check is skipped only on a TCP connection whose two ends the
    server names as the socket's own: never through PgBouncer (in either mode), never on a
    Unix socket, which the server cannot name."""
    direct = sa.make_url(postgres_url).set(drivername=f"postgresql+{driver}")
    assert _proves_direct(direct.render_as_string(hide_password=False))
    for pool_mode in ("session", "transaction"):
        with pgbouncer(postgres_server_url, pool_mode) as template:
            pooled = sa.make_url(_through(template, postgres_url)).set(
                drivername=f"postgresql+{driver}"
            )
            assert not _proves_direct(pooled.render_as_string(hide_password=False)), pool_mode
    sockets = query(postgres_url, "SHOW unix_socket_directories")[0][0]
    folder = sockets.split(",")[0].strip()
    assert not _proves_direct(direct.render_as_string(hide_password=False), host=folder)
