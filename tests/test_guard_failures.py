"""The guard when things fail: a failing revision, blocked DDL, a database late or restarted."""

from __future__ import annotations

import logging
import threading

import pytest
import sqlalchemy as sa
from alembic import command
from guard_processes import (
    Processes,
    TcpForwarder,
    advisory_lock_session,
    boot,
    boot_config,
    free_port,
    query,
    table_names,
    throwaway_server,
)

from ibutsu_server import MIGRATIONS_DIR
from flask_migration_guard import DatabaseState, StateName
from flask_migration_guard.actions import Runner
from flask_migration_guard.errors import DatabaseUnavailableError, MigrationFailedError
from flask_migration_guard.scripts import Scripts
from ibutsu_server.testing import postgres

HEAD = Scripts(MIGRATIONS_DIR).heads
APPLICATION_TABLES = {"runs", "results", "imports", "import_files", "projects"}


def upgrade_to(url: str, revision: str) -> None:
    """Migrate the database at ``url`` to ``revision`` with the guard's runner."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        Runner(engine, Scripts(MIGRATIONS_DIR)).run(command.upgrade, revision)
    finally:
        engine.dispose()


def versions(url: str) -> list[str]:
    return [row[0] for row in query(url, "SELECT version_num FROM alembic_version")]


def test_failing_revision_rolls_back_entirely(empty_url: str) -> None:
    """Revision 2 fails: its table and row are gone, the database stays at revision 1."""
    with pytest.raises(MigrationFailedError) as caught:
        boot(boot_config(empty_url, "failing"))
    error = caught.value
    assert error.revision == "fail0002"
    assert error.last_good == ("fail0001",)
    assert "fail0002" in error.message
    assert "boom in revision 2" in error.message
    assert "flask --app ibutsu_server db upgrade" in error.message
    assert isinstance(error.__cause__, RuntimeError)
    assert table_names(empty_url) == {"alembic_version", "alembic_version_history", "a"}
    assert versions(empty_url) == ["fail0001"]

    # The next boot retries revision 2: the database is behind, not refused.
    with pytest.raises(MigrationFailedError) as again:
        boot(boot_config(empty_url, "failing"))
    assert again.value.revision == "fail0002"
    assert versions(empty_url) == ["fail0001"]


def test_failing_first_revision_leaves_an_empty_database(empty_url: str) -> None:
    """The very first revision fails: the database is left empty, so a retry may run."""
    with pytest.raises(MigrationFailedError) as caught:
        boot(boot_config(empty_url, "failing_first"))
    error = caught.value
    assert error.revision == "first0001"
    assert error.last_good == ()
    assert "boom in revision 1" in error.message
    assert error.state is not None and error.state.name is StateName.EMPTY
    assert "a" not in table_names(empty_url)


def test_a_revision_whose_commit_fails_is_named_and_never_said_applied(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Revision 1 runs every statement, and PostgreSQL refuses its COMMIT (a deferred
    foreign key): the log never says it was applied, and the error names it, not the
    revision after it."""
    caplog.set_level(logging.INFO)
    with pytest.raises(MigrationFailedError) as caught:
        boot(boot_config(postgres_url, "failing_commit"))
    error = caught.value
    assert error.revision == "fcom0001", error.message
    assert error.last_good == ()
    assert "ForeignKeyViolation" in error.message
    assert "Applying fcom0001, revision 1 of 2" in caplog.text
    assert "Applied fcom0001" not in caplog.text
    assert "Applying fcom0002" not in caplog.text
    assert not {"parent", "child", "alembic_version_history"} & table_names(postgres_url)


def test_blocked_ddl_fails_fast_with_the_lock_timeout(postgres_url: str) -> None:
    """A table locked by another session: the ALTER gives up after IBUTSU_DB_DDL_LOCK_TIMEOUT."""
    upgrade_to(postgres_url, "53994db980f1")
    outcome: list[BaseException | DatabaseState] = []

    def run() -> None:
        try:
            outcome.append(boot(boot_config(postgres_url, IBUTSU_DB_DDL_LOCK_TIMEOUT=1)))
        except BaseException as exc:  # noqa: B036  (handed to the test's thread)
            outcome.append(exc)

    engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as blocker:
            blocker.execute(sa.text("LOCK TABLE import_files IN ACCESS SHARE MODE"))
            booting = threading.Thread(target=run)
            booting.start()
            booting.join(30)
            hung = booting.is_alive()
            blocker.rollback()
            booting.join(30)
    finally:
        engine.dispose()
    assert not hung, "the upgrade waited for the table lock instead of timing out"
    assert len(outcome) == 1 and isinstance(outcome[0], MigrationFailedError), outcome
    error = outcome[0]
    assert error.revision == "8cf9148b9ad9"
    assert error.last_good == ("53994db980f1",)
    assert "lock timeout" in error.message
    assert versions(postgres_url) == ["53994db980f1"]

    # Once the other session is gone, the same boot goes through.
    assert boot(boot_config(postgres_url)).current == HEAD


def test_database_that_comes_up_late_is_waited_for(
    postgres_url: str, postgres_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens at first; a forwarder to the server starts 1.5 s later; the boot waits."""
    caplog.set_level(logging.INFO)
    server = sa.make_url(postgres_server_url)
    port = free_port()
    late_url = sa.make_url(postgres_url).set(host="127.0.0.1", port=port)
    forwarders: list[TcpForwarder] = []

    def start_forwarder() -> None:
        forwarders.append(TcpForwarder(port, (server.host or "127.0.0.1", server.port or 5432)))

    timer = threading.Timer(1.5, start_forwarder)
    timer.start()
    try:
        state = boot(
            boot_config(
                late_url.render_as_string(hide_password=False), IBUTSU_DB_WAIT_TIMEOUT=15
            )
        )
    finally:
        timer.join()
        for forwarder in forwarders:
            forwarder.close()
    assert state.at_head and state.current == HEAD
    assert forwarders and forwarders[0].accepted > 0
    assert "Database not reachable yet" in caplog.text
    assert versions(postgres_url) == list(HEAD)


def test_unreachable_database_error_names_it_and_hides_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing ever listens: DatabaseUnavailableError names host and database, not the password."""
    caplog.set_level(logging.DEBUG)
    password = "s3cret-pw"
    url = f"postgresql://postgres:{password}@127.0.0.1:{free_port()}/ibutsu_nowhere"
    with pytest.raises(DatabaseUnavailableError) as caught:
        boot(boot_config(url, IBUTSU_DB_WAIT_TIMEOUT=1))
    message = caught.value.message
    assert "'127.0.0.1'" in message
    assert "'ibutsu_nowhere'" in message
    assert "IBUTSU_DB_WAIT_TIMEOUT" in message
    assert password not in message
    assert password not in caught.value.url
    assert password not in caplog.text
    assert "Database not reachable yet" in caplog.text


def test_server_restart_while_a_process_waits_for_the_lock(processes: Processes) -> None:
    """The server restarts while a boot waits on the lock: it reconnects and reaches head."""
    with throwaway_server() as server:
        url = postgres.create_database(server.url, "ibutsu")
        with advisory_lock_session(url):
            waiter = processes.boot(
                boot_config(url, IBUTSU_DB_LOCK_TIMEOUT=20, IBUTSU_DB_WAIT_TIMEOUT=20),
                "waiter",
            )
            waiter.wait_for("Waiting for the migration lock", in_log=True)
            server.restart()
            # The restart ended the holder's session, and the lock with it.
            code = waiter.wait()
        assert code == 0, f"{waiter.describe()}\n--- server log\n{server.log()}"
        assert "Lost the database connection while waiting for the migration lock" in waiter.log
        assert waiter.result() == {"state": "at_head", "current": list(HEAD)}
        assert versions(url) == list(HEAD)
        assert APPLICATION_TABLES <= table_names(url)
        index = query(
            url,
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = 'ix_runs_pass_percent'",
        )
        assert index == [(True,)]


def test_server_down_past_the_lock_timeout_while_waiting(processes: Processes) -> None:
    """The server stops while a boot waits on the lock: a clear error once the bound passes."""
    with throwaway_server() as server:
        url = postgres.create_database(server.url, "ibutsu")
        with advisory_lock_session(url):
            waiter = processes.boot(boot_config(url, IBUTSU_DB_LOCK_TIMEOUT=3), "waiter")
            waiter.wait_for("Waiting for the migration lock", in_log=True)
            server.stop_server()
            code = waiter.wait()
        server.start()
        assert code == 1, waiter.describe()
        result = waiter.result()
        assert result["error"] == "DatabaseUnavailableError", result
        assert "while waiting for the migration lock" in result["message"]
        assert "IBUTSU_DB_LOCK_TIMEOUT (3 s)" in result["message"]
        assert table_names(url) == set()
