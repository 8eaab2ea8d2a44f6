"""Bounds on a database that stops answering: connect timeout, keepalives, and the limits
the lock holder's server session gets, so that it cannot outlive its client for long."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from guard_databases import app_config
from guard_processes import (
    Process,
    Processes,
    advisory_lock_held,
    advisory_lock_session,
    boot_config,
    forwarded,
    query,
    wait_until,
)
from guard_processes import boot as boot_here

from ibutsu_server import create_app
from ibutsu_server.config import LIBPQ_DEFAULTS
from ibutsu_server.db import db
from flask_migration_guard.errors import DatabaseUnavailableError
from flask_migration_guard.lock import PROBE_INTERVAL, PROBE_TIMEOUT, SESSION_BOUND

pytestmark = [pytest.mark.usefixtures("clean_environment"),
              pytest.mark.ibutsu_db_dialects("postgresql")]


def test_app_connections_keep_alive(ibutsu_db_url: str) -> None:
    """The app's PostgreSQL sockets carry TCP keepalives with the stated timings."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": ibutsu_db_url, "IBUTSU_DB_MIGRATE": "check"})
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                raw = connection.connection.dbapi_connection
                assert raw is not None
                sock = socket.socket(fileno=raw.fileno())
                try:
                    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                    idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
                    interval = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
                    count = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
                finally:
                    sock.detach()
        finally:
            db.engine.dispose()
    assert (idle, interval, count) == (
        LIBPQ_DEFAULTS["keepalives_idle"],
        LIBPQ_DEFAULTS["keepalives_interval"],
        LIBPQ_DEFAULTS["keepalives_count"],
    )


def test_a_silent_path_fails_the_boot_within_the_connect_timeout(ibutsu_db_url: str) -> None:
    """A path that accepts the connection and then says nothing: the boot stops with a guard
    error after the connect timeout, instead of hanging."""
    with forwarded(ibutsu_db_url) as (forwarder, through):
        forwarder.freeze()
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError) as refused:
            create_app(app_config(through, "check", IBUTSU_DB_WAIT_TIMEOUT=0))
        took = time.monotonic() - started
    assert "timeout expired" in refused.value.message
    assert took < LIBPQ_DEFAULTS["connect_timeout"] + 10


def test_the_holder_session_is_bounded(empty_url: str) -> None:
    """The session that holds the lock and migrates has the server-side limits set: an
    orphaned statement, a vanished client and an abandoned transaction all end."""
    state = boot_here(boot_config(empty_url, "session_settings", IBUTSU_DB_DDL_LOCK_TIMEOUT=7))
    assert state.current == ("sess0001",)
    settings = dict(query(empty_url, "SELECT name, value FROM session_settings"))
    assert settings == {
        "idle_in_transaction_session_timeout": f"{SESSION_BOUND // 60}min",
        "client_connection_check_interval": "5s",
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
        "lock_timeout": "7s",
    }


def _in_the_long_revision(
    url: str, processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Process:
    """A boot of the sleeping scenario at ``url``, once its second revision runs."""
    marker = tmp_path / "marker"
    monkeypatch.setenv("IBUTSU_TEST_MARKER", str(marker))
    holder = processes.boot(boot_config(url, "sleeping"), "holder")
    wait_until(marker.exists, "the long revision to begin")
    return holder


def _the_next_boot_goes_on(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server ends the stopped holder's session and lock; a new boot finishes the chain."""
    wait_until(lambda: not advisory_lock_held(url), "the server to end the session", 20)
    assert query(url, "SELECT version_num FROM alembic_version") == [("sleep0001",)]
    monkeypatch.setenv("IBUTSU_TEST_NO_SLEEP", "1")
    assert boot_here(boot_config(url, "sleeping")).current == ("sleep0002",)


def test_a_path_that_goes_silent_mid_migration_stops_the_holder(
    empty_url: str, processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy freezes while a revision runs: the holder notices within the watchdog's bound
    and stops; once the proxy's sockets close, the server ends the session and its lock."""
    with forwarded(empty_url) as (forwarder, through):
        holder = _in_the_long_revision(through, processes, tmp_path, monkeypatch)
        forwarder.freeze()
        frozen = time.monotonic()
        bound = PROBE_INTERVAL + PROBE_TIMEOUT + LIBPQ_DEFAULTS["connect_timeout"] + 10
        assert holder.wait(timeout=bound) == 1, holder.describe()
        assert time.monotonic() - frozen < bound
        assert "The database has not answered" in holder.log, holder.describe()
        assert holder.result()["error"] == "MigrationFailedError", holder.describe()
    _the_next_boot_goes_on(empty_url, monkeypatch)


def test_a_proxy_that_cuts_the_connections_mid_migration(
    empty_url: str, processes: Processes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection is cut during a revision's long statement: the holder stops with a
    guard error at the last good revision, the server ends the orphaned statement and its
    lock, and the next boot goes on."""
    with forwarded(empty_url) as (forwarder, through):
        holder = _in_the_long_revision(through, processes, tmp_path, monkeypatch)
        forwarder.cut()
        assert holder.wait() == 1, holder.describe()
        result = holder.result()
        assert result["error"] == "MigrationFailedError", holder.describe()
        assert "The database stays at 'sleep0001'" in result["message"], holder.describe()
    _the_next_boot_goes_on(empty_url, monkeypatch)


def test_a_waiter_on_a_path_that_goes_silent_gives_up(
    empty_url: str, processes: Processes
) -> None:
    """A process waiting for the lock while its path freezes ends within the lock timeout
    plus the bound on one poll and one connect, with a guard error, instead of hanging."""
    with forwarded(empty_url) as (forwarder, through), advisory_lock_session(empty_url):
        waiter = processes.boot(boot_config(through, IBUTSU_DB_LOCK_TIMEOUT=5), "waiter")
        waiter.wait_for("Waiting for the migration lock", in_log=True)
        forwarder.freeze()
        bound = 5 + PROBE_TIMEOUT + LIBPQ_DEFAULTS["connect_timeout"] + 15
        assert waiter.wait(timeout=bound) == 1, waiter.describe()
    assert waiter.result()["error"] in ("DatabaseUnavailableError", "LockTimeoutError")
    assert "Traceback" not in waiter.log
