"""The startup guard's modes: what ``create_app`` does in every state, in every mode.

The expectations are the state x mode table of the design: ``check`` boots only
at head; ``wait`` polls until head, bounded; ``upgrade`` migrates what an
upgrade fixes; ``off`` boots whatever the state, with a warning. States no
automatic action may touch are refused in every mode but ``off``, and nothing
is written to them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from guard_databases import (
    CASES,
    CLOSED_PORT_URL,
    HEAD,
    Case,
    app_config,
    case_params,
    cases_in,
    fresh_url,
    migrate_to,
    snapshot,
    version_rows,
)
from sqlalchemy.engine import make_url

from ibutsu_server import MIGRATIONS_DIR, create_app
from ibutsu_server.guard_names import GUARD_NAMES
from flask_migration_guard import MigrationGuard, StateName
from flask_migration_guard.appstate import app_guard
from flask_migration_guard.errors import (
    BrokenVersionTableError,
    DatabaseUnavailableError,
    GuardConfigError,
    GuardError,
    LegacyTooOldError,
    LegacyUnprovenError,
    MultipleHeadsError,
    NotUpToDateError,
    UnknownRevisionError,
    UnversionedDatabaseError,
)

pytestmark = pytest.mark.usefixtures("clean_environment")


MODES = ("check", "wait", "upgrade", "off")
BOOT = None
S = StateName

# state -> what check, wait, upgrade and off do: BOOT, or the error raised.
TABLE: dict[StateName, tuple[type[GuardError] | None, ...]] = {
    S.AT_HEAD: (BOOT, BOOT, BOOT, BOOT),
    S.AHEAD_COMPATIBLE: (BOOT, BOOT, BOOT, BOOT),
    S.EMPTY: (NotUpToDateError, NotUpToDateError, BOOT, BOOT),
    S.BEHIND: (NotUpToDateError, NotUpToDateError, BOOT, BOOT),
    S.LEGACY: (NotUpToDateError, NotUpToDateError, BOOT, BOOT),
    S.LEGACY_TOO_OLD: (LegacyTooOldError, LegacyTooOldError, LegacyTooOldError, BOOT),
    S.LEGACY_UNPROVEN: (LegacyUnprovenError, LegacyUnprovenError, LegacyUnprovenError, BOOT),
    S.UNVERSIONED: (UnversionedDatabaseError,) * 3 + (BOOT,),
    S.UNKNOWN_REVISION: (UnknownRevisionError,) * 3 + (BOOT,),
    S.BROKEN_VERSION_TABLE: (BrokenVersionTableError,) * 3 + (BOOT,),
    S.MULTIPLE_SCRIPT_HEADS: (MultipleHeadsError,) * 3 + (BOOT,),
}

# Short: the table's wait cases end at the first poll; the timeout itself is
# tested on its own below.
WAIT_TIMEOUT = 0.1
PASSWORD = "s3cret-pw"


def expected(state: StateName, mode: str) -> type[GuardError] | None:
    return TABLE[state][MODES.index(mode)]


@pytest.fixture()
def fresh_case_url(request: pytest.FixtureRequest, case: Case, dialect: str) -> str:
    """The test's case built on a new database of its own."""
    url = fresh_url(request, dialect)
    case.build(url)
    return url


def boot(url: str, mode: str | None, case: Case | None = None, **extra: Any) -> Flask:
    settings: dict[str, Any] = dict(case.config) if case else {}
    settings.setdefault("IBUTSU_DB_WAIT_TIMEOUT", WAIT_TIMEOUT)
    settings.update(extra)
    return create_app(app_config(url, mode, **settings))


def with_password(url: str) -> str:
    """``url`` with a password (a trust-auth server accepts any)."""
    parsed = make_url(url)
    if parsed.password is None:
        parsed = parsed.set(password=PASSWORD)
    return parsed.render_as_string(hide_password=False)


def test_table_covers_every_state() -> None:
    """Every state the guard knows has a row, and every row a case to test it with."""
    assert set(TABLE) == set(StateName)
    assert {case.state for case in CASES} == set(StateName)


@pytest.mark.parametrize("mode", ["check", "wait", "off"])
@pytest.mark.parametrize(("case", "dialect"), case_params())
def test_modes_that_only_read(
    case: Case, dialect: str, mode: str, case_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """check, wait and off: boot or raise as the table says, and write nothing."""
    caplog.set_level(logging.INFO, logger="ibutsu_server")
    caplog.set_level(logging.INFO, logger="flask_migration_guard")
    before = snapshot(case_url)
    error = expected(case.state, mode)
    if error is BOOT:
        app = boot(case_url, mode, case)
        state = app_guard(app).last_state
        if mode == "off":
            assert state is None
            assert "IBUTSU_DB_MIGRATE=off" in caplog.text
        else:
            assert state is not None and state.name is case.state
    else:
        with pytest.raises(error) as raised:
            boot(case_url, mode, case)
        assert type(raised.value) is error
        assert raised.value.state is not None
        assert raised.value.state.name is case.state
    assert snapshot(case_url) == before


@pytest.mark.parametrize(("case", "dialect"), case_params())
def test_upgrade_mode(case: Case, dialect: str, fresh_case_url: str) -> None:
    """upgrade: empty, behind and legacy end at head, a database ahead by compatible
    revisions is served as it is; the others raise, and nothing is written."""
    before = snapshot(fresh_case_url)
    error = expected(case.state, "upgrade")
    if error is BOOT:
        app = boot(fresh_case_url, "upgrade", case)
        state = app_guard(app).last_state
        servable = (StateName.AT_HEAD, StateName.AHEAD_COMPATIBLE)
        reached = case.state if case.state in servable else StateName.AT_HEAD
        assert state is not None and state.name is reached
        assert version_rows(fresh_case_url) == list(state.current)
        if case.state in servable:
            assert snapshot(fresh_case_url) == before
    else:
        with pytest.raises(error) as raised:
            boot(fresh_case_url, "upgrade", case)
        assert type(raised.value) is error
        assert snapshot(fresh_case_url) == before


@pytest.mark.parametrize(("case", "dialect"), case_params(cases_in(S.EMPTY, S.BEHIND, S.LEGACY)))
def test_not_up_to_date_message(case: Case, dialect: str, case_url: str) -> None:
    """The message names what was found, the head, every pending revision and the fix."""
    with pytest.raises(NotUpToDateError) as raised:
        boot(case_url, "check", case)
    state = raised.value.state
    assert state is not None
    message = str(raised.value)
    assert "Target database is not up to date" in message
    assert HEAD in message
    for revision in (*state.current, *state.pending):
        assert revision in message
    assert f"{len(state.pending)} pending" in message
    assert "flask --app ibutsu_server db upgrade" in message
    assert "IBUTSU_DB_MIGRATE=upgrade" in message
    if case.state is S.LEGACY:
        assert "predates Alembic" in message and "legacy version '9'" in message
    if case.state is S.EMPTY:
        assert "the database is empty" in message


@pytest.mark.parametrize(
    ("case", "dialect"),
    case_params(
        case for case in CASES if expected(case.state, "check") not in (BOOT, NotUpToDateError)
    ),
)
def test_refusal_message(case: Case, dialect: str, case_url: str) -> None:
    """A refusal names the state, what was found, what was expected and a command."""
    with pytest.raises(GuardError) as raised:
        boot(case_url, "check", case)
    message = str(raised.value)
    assert f"({case.state.value})" in message
    assert raised.value.state is not None and raised.value.state.detail in message
    assert "Expected a database at" in message
    assert "flask --app ibutsu_server db " in message or "2.8.x" in message
    assert raised.value.exit_code == 4


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_wait_mode_boots_once_another_process_upgrades(
    request: pytest.FixtureRequest, dialect: str
) -> None:
    """wait polls a database behind until another runner brings it to head, then boots."""
    url = fresh_url(request, dialect)
    migrate_to(url, "8cf9148b9ad9")
    failures: list[Exception] = []

    def upgrade_later() -> None:
        try:
            time.sleep(1.0)
            migrate_to(url, HEAD)
        except Exception as exc:  # reported by the test thread
            failures.append(exc)

    other = threading.Thread(target=upgrade_later)
    started = time.monotonic()
    other.start()
    try:
        app = boot(url, "wait", IBUTSU_DB_WAIT_TIMEOUT=10)
    finally:
        other.join()
    elapsed = time.monotonic() - started
    assert not failures
    state = app_guard(app).last_state
    assert state is not None and state.name is StateName.AT_HEAD
    assert 1.0 <= elapsed < 10


def test_wait_mode_gives_up_after_the_timeout(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """wait on a database that stays behind fails once the timeout has passed: it says it
    waited, how long, and what it last saw; it logged what it waited for."""
    caplog.set_level(logging.INFO, logger="flask_migration_guard")
    migrate_to(sqlite_url, "8cf9148b9ad9")
    started = time.monotonic()
    with pytest.raises(NotUpToDateError) as raised:
        boot(sqlite_url, "wait", IBUTSU_DB_WAIT_TIMEOUT=0.6)
    assert 0.4 <= time.monotonic() - started < 5
    message = str(raised.value)
    assert re.match(r"Waited 0\.\d s \(of IBUTSU_DB_WAIT_TIMEOUT=0\.6 s\)", message), message
    assert "Target database is not up to date: the database is at 8cf9148b9ad9" in message
    assert "flask --app ibutsu_server db upgrade" in message
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Waiting")]
    assert progress[0].startswith(
        f"Waiting for another process to bring the database to head {HEAD}: it is at"
        " 8cf9148b9ad9 (behind); 0.0 s of IBUTSU_DB_WAIT_TIMEOUT=0.6 s waited"
    ), progress


def test_off_mode_does_not_connect(caplog: pytest.LogCaptureFixture) -> None:
    """off boots even when nothing answers at the database's address."""
    caplog.set_level(logging.WARNING, logger="flask_migration_guard")
    app = boot(CLOSED_PORT_URL, "off", IBUTSU_DB_WAIT_TIMEOUT=30)
    assert app_guard(app).settings.mode == "off"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("IBUTSU_DB_MIGRATE=off" in r.getMessage() for r in warnings)


def test_check_mode_on_an_unreachable_database() -> None:
    """check fails with DatabaseUnavailableError naming host and database, password masked."""
    with pytest.raises(DatabaseUnavailableError) as raised:
        boot(CLOSED_PORT_URL, "check", IBUTSU_DB_WAIT_TIMEOUT=0)
    message = str(raised.value)
    assert "'127.0.0.1'" in message and "'ibutsu'" in message
    assert PASSWORD not in message and PASSWORD not in raised.value.url
    assert raised.value.exit_code == 2


def test_explicit_url_defaults_to_check(empty_url: str) -> None:
    """With a URL given and no IBUTSU_DB_MIGRATE, the mode is check: an empty database fails."""
    with pytest.raises(NotUpToDateError):
        create_app(app_config(empty_url))
    assert snapshot(empty_url).alembic_version is None
    migrate_to(empty_url, HEAD)
    app = create_app(app_config(empty_url))
    assert app.config["IBUTSU_DB_MIGRATE"] == "check"


def test_mode_from_the_environment(empty_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """IBUTSU_DB_MIGRATE is read from the environment when the config lacks it."""
    monkeypatch.setenv("IBUTSU_DB_MIGRATE", "upgrade")
    app = create_app(app_config(empty_url))
    assert app.config["IBUTSU_DB_MIGRATE"] == "upgrade"
    assert version_rows(empty_url) == [HEAD]


def test_mode_is_case_and_space_insensitive(sqlite_url: str) -> None:
    """' Upgrade ' is upgrade."""
    app = create_app(app_config(sqlite_url, " Upgrade "))
    assert app_guard(app).settings.mode == "upgrade"
    assert version_rows(sqlite_url) == [HEAD]


def test_embedded_default_upgrades(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no URL anywhere, the embedded SQLite database is created and upgraded to head."""
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    app = create_app()
    database = instance / "ibutsu.db"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{database}"
    assert app.config["IBUTSU_DB_MIGRATE"] == "upgrade"
    assert version_rows(f"sqlite:///{database}") == [HEAD]


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("IBUTSU_DB_MIGRATE", "upgrde", "one of 'check', 'wait', 'upgrade', 'off'"),
        ("IBUTSU_DB_MIGRATE", "", "one of 'check', 'wait', 'upgrade', 'off'"),
        ("IBUTSU_DB_WAIT_TIMEOUT", "-1", "a number of seconds, 0 or more"),
        ("IBUTSU_DB_WAIT_TIMEOUT", "soon", "a number of seconds, 0 or more"),
        ("IBUTSU_DB_WAIT_TIMEOUT", "nan", "a number of seconds, 0 or more"),
        ("IBUTSU_DB_LOCK_TIMEOUT", -5, "a number of seconds, 0 or more"),
        ("IBUTSU_DB_LOCK_TIMEOUT", "inf", "a number of seconds, 0 or more"),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", "30s", "a number of seconds, 0 or more"),
        ("IBUTSU_DB_MIGRATIONS_DIR", "<tmp>", "a folder holding Alembic's env.py"),
    ],
)
def test_bad_setting(key: str, value: Any, allowed: str, tmp_path: Path) -> None:
    """A bad value raises GuardConfigError naming the key, the value and what is allowed,
    before any connection: the database address here has nothing listening.
    """
    if value == "<tmp>":
        value = str(tmp_path)
    settings = {"IBUTSU_DB_WAIT_TIMEOUT": 30, key: value}
    with pytest.raises(GuardConfigError) as raised:
        create_app(app_config(CLOSED_PORT_URL, **settings))
    assert raised.value.key == key
    assert raised.value.value == value
    assert str(raised.value) == f"{key} must be {allowed}; got {value!r}."
    assert raised.value.exit_code == 2


def test_bad_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from the environment are validated the same way."""
    monkeypatch.setenv("IBUTSU_DB_WAIT_TIMEOUT", "later")
    with pytest.raises(GuardConfigError, match="IBUTSU_DB_WAIT_TIMEOUT"):
        create_app(app_config(CLOSED_PORT_URL, "check"))


def test_registering_twice_raises(sqlite_url: str) -> None:
    """A second MigrationGuard on the same app is refused."""
    app = boot(sqlite_url, "off")
    with pytest.raises(RuntimeError, match="already registered"):
        MigrationGuard(app, directory=MIGRATIONS_DIR, names=GUARD_NAMES)
    with pytest.raises(RuntimeError, match="already has a 'db' command"):
        MigrationGuard(app, directory=MIGRATIONS_DIR)


def test_loggers_still_emit_after_an_upgrade(
    empty_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgrading in-process disables no logger: app.logger and older loggers still emit."""
    existing = logging.getLogger("tests.guard_modes.existing")
    caplog.set_level(logging.INFO)
    app = boot(empty_url, "upgrade")
    caplog.clear()
    app.logger.info("app logger after the upgrade")
    existing.info("existing logger after the upgrade")
    assert not app.logger.disabled and not existing.disabled
    messages = [record.getMessage() for record in caplog.records]
    assert "app logger after the upgrade" in messages
    assert "existing logger after the upgrade" in messages


def test_boot_log_line(empty_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """One line says the state, the revisions, the mode and the milliseconds it took."""
    caplog.set_level(logging.INFO, logger="flask_migration_guard")
    boot(empty_url, "upgrade")
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "flask_migration_guard.extension"
    ]
    assert len(lines) == 1
    line = lines[0]
    assert f"at_head (current {HEAD}, head {HEAD})" in line
    assert "upgrade mode" in line
    assert line.endswith(" ms")


@pytest.mark.parametrize("mode", ["upgrade", "check"])
def test_password_never_logged(
    postgres_url: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Boot and upgrade logs show the URL with its password masked."""
    url = with_password(postgres_url)
    password = make_url(url).password
    assert password
    caplog.set_level(logging.DEBUG)
    if mode == "check":
        migrate_to(postgres_url, HEAD)
    boot(url, mode)
    assert "at_head" in caplog.text and "***" in caplog.text
    assert password not in caplog.text
    assert "Applied" in caplog.text or mode == "check"
