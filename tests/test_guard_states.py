"""The states the guard tells apart: ``inspect_database`` and ``Runner.inspect``.

Every state is read on SQLite and PostgreSQL through a read-only connection,
and the database is compared before and after: inspecting never writes and
never leaves a transaction open.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from guard_databases import (
    AHEAD_REVISION,
    BASELINE,
    BEHIND_AT,
    CASES,
    CHAIN,
    HEAD,
    TWO_HEADS,
    TWO_HEADS_DIR,
    UNKNOWN_REVISION,
    Case,
    case_params,
    cases_in,
    snapshot,
)
from sqlalchemy.engine import make_url

from ibutsu_server import MIGRATIONS_DIR
import sqlite_transactions as sqlite_support
from ibutsu_server.db.legacy import detect_legacy
from flask_migration_guard import DatabaseState, StateName
from flask_migration_guard.actions import Runner
from flask_migration_guard.scripts import Scripts
from flask_migration_guard.state import inspect_database

SCRIPTS = {MIGRATIONS_DIR: Scripts(MIGRATIONS_DIR), TWO_HEADS_DIR: Scripts(TWO_HEADS_DIR)}

# case name -> (current, head, pending); current is compared as a set.
EXPECTED: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "at_head": ((HEAD,), (HEAD,), ()),
    "ahead_compatible": ((AHEAD_REVISION,), (HEAD,), ()),
    "empty": ((), (HEAD,), CHAIN),
    "behind": ((BEHIND_AT,), (HEAD,), ("e5736dbcc0b0", HEAD)),
    "legacy": ((), (HEAD,), CHAIN),
    "legacy_version_7": ((), (HEAD,), ()),
    "legacy_version_abc": ((), (HEAD,), ()),
    "legacy_no_version": ((), (HEAD,), ()),
    "legacy_two_versions": ((), (HEAD,), ()),
    "legacy_missing_column": ((), (HEAD,), ()),
    "legacy_reports_left": ((), (HEAD,), ()),
    "legacy_owner_id_text": ((), (HEAD,), ()),
    "unversioned": ((), (HEAD,), ()),
    "unknown_revision": ((UNKNOWN_REVISION,), (HEAD,), ()),
    "empty_version_table": ((), (HEAD,), ()),
    "version_table_only": ((), (HEAD,), CHAIN),
    "ancestor_in_version_table": ((HEAD, BASELINE), (HEAD,), ()),
    "multiple_script_heads": ((), TWO_HEADS, ()),
}

# case name -> words the state's detail must contain.
DETAILS = {
    "legacy": "legacy version '9', schema proven",
    "legacy_version_7": "version 7 is below 9",
    "legacy_version_abc": "the version is not a number",
    "legacy_no_version": "meta has no version row",
    "legacy_two_versions": "meta has 2 version rows",
    "legacy_missing_column": "column imports.created is missing",
    "legacy_reports_left": "table 'reports' should have been dropped",
    "legacy_owner_id_text": "projects.owner_id is text",
    "unversioned": "notes",
    "unknown_revision": repr(UNKNOWN_REVISION),
    "ahead_compatible": f"ahead of this code by {AHEAD_REVISION}, each recorded in",
    "empty_version_table": "no rows",
    "ancestor_in_version_table": "not a valid set of heads",
    "multiple_script_heads": "several heads",
}


def read_only_engine(url: str) -> sa.Engine:
    """An engine whose connections cannot write: the server or the file refuses."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            f"sqlite:///file:{parsed.database}?mode=ro&uri=true", poolclass=sa.NullPool
        )
        sqlite_support.make_transactional(engine)
        return engine
    return sa.create_engine(
        url,
        poolclass=sa.NullPool,
        connect_args={"options": "-c default_transaction_read_only=on"},
    )


@pytest.fixture()
def engine(case_url: str) -> Iterator[sa.Engine]:
    """A read-only engine on the case's database."""
    engine = read_only_engine(case_url)
    try:
        yield engine
    finally:
        engine.dispose()


def driver_in_transaction(connection: sa.Connection) -> bool:
    """Whether the DBAPI connection under ``connection`` is inside a transaction."""
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite":
        return bool(dbapi.in_transaction)  # type: ignore[union-attr]
    from psycopg.pq import TransactionStatus

    status = dbapi.info.transaction_status  # type: ignore[union-attr]
    return bool(status != TransactionStatus.IDLE)


def scripts_for(case: Case) -> Scripts:
    return SCRIPTS[case.config.get("IBUTSU_DB_MIGRATIONS_DIR", MIGRATIONS_DIR)]


@pytest.mark.parametrize(("case", "dialect"), case_params())
def test_read_only_engine_refuses_writes(case: Case, dialect: str, engine: sa.Engine) -> None:
    """The engine the other tests inspect with cannot write, so 'never writes' is enforced."""
    with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError):
        connection.exec_driver_sql("CREATE TABLE written_by_inspect (id INTEGER)")


@pytest.mark.parametrize(("case", "dialect"), case_params())
def test_inspect_database(case: Case, dialect: str, engine: sa.Engine, case_url: str) -> None:
    """inspect_database names the state, current, head and pending revisions."""
    current, head, pending = EXPECTED[case.name]
    before = snapshot(case_url)
    with engine.connect() as connection:
        state = inspect_database(connection, scripts_for(case), detect_legacy)
        assert not connection.in_transaction()
        assert not driver_in_transaction(connection)
    assert state.name is case.state
    assert sorted(state.current) == sorted(current)
    assert state.head == head
    assert state.pending == pending
    assert snapshot(case_url) == before


@pytest.mark.parametrize(("case", "dialect"), case_params())
def test_runner_inspect(case: Case, dialect: str, engine: sa.Engine, case_url: str) -> None:
    """Runner.inspect agrees with inspect_database and writes nothing either."""
    before = snapshot(case_url)
    runner = Runner(engine=engine, scripts=scripts_for(case), legacy_detector=detect_legacy)
    state = runner.inspect()
    with engine.connect() as connection:
        direct = inspect_database(connection, scripts_for(case), detect_legacy)
    assert state == direct
    assert state.name is case.state
    assert snapshot(case_url) == before


@pytest.mark.parametrize(
    ("case", "dialect"), case_params(case for case in CASES if case.name in DETAILS)
)
def test_state_detail_says_what_was_found(case: Case, dialect: str, engine: sa.Engine) -> None:
    """The detail of every non-trivial state says what the guard found."""
    with engine.connect() as connection:
        state = inspect_database(connection, scripts_for(case), detect_legacy)
    assert DETAILS[case.name] in state.detail


@pytest.mark.parametrize(
    ("case", "dialect"),
    case_params(
        cases_in(StateName.LEGACY, StateName.LEGACY_TOO_OLD, StateName.LEGACY_UNPROVEN)
    ),
)
def test_legacy_finding(case: Case, dialect: str, engine: sa.Engine) -> None:
    """Legacy states carry the finding: the version as found, the baseline, proven or not."""
    with engine.connect() as connection:
        state = inspect_database(connection, scripts_for(case), detect_legacy)
    finding = state.legacy
    assert finding is not None
    assert finding.baseline == BASELINE
    assert finding.proven is (case.state is StateName.LEGACY)
    assert finding.too_old is (case.state is StateName.LEGACY_TOO_OLD)
    expected_version = {
        "legacy_version_7": "7",
        "legacy_version_abc": "abc",
        "legacy_no_version": None,
        "legacy_two_versions": "'9', '9'",
    }.get(case.name, "9")
    assert finding.version == expected_version


@pytest.mark.parametrize(("case", "dialect"), case_params(cases_in(StateName.LEGACY)))
def test_legacy_pending_starts_with_baseline(case: Case, dialect: str, engine: sa.Engine) -> None:
    """A proven legacy database is stamped at the baseline first, then upgraded through."""
    with engine.connect() as connection:
        state = inspect_database(connection, scripts_for(case), detect_legacy)
    assert state.pending[0] == BASELINE
    assert state.upgradable


@pytest.mark.parametrize(("case", "dialect"), case_params(cases_in(StateName.LEGACY)))
def test_legacy_without_detector_is_unversioned(
    case: Case, dialect: str, engine: sa.Engine
) -> None:
    """Without the application's legacy hook, a legacy database is just unversioned."""
    with engine.connect() as connection:
        state = inspect_database(connection, scripts_for(case))
    assert state.name is StateName.UNVERSIONED
    assert state.legacy is None


@pytest.mark.parametrize(("case", "dialect"), case_params())
def test_as_dict(case: Case, dialect: str, engine: sa.Engine) -> None:
    """as_dict gives the four JSON fields, as lists of strings."""
    with engine.connect() as connection:
        state = inspect_database(connection, scripts_for(case), detect_legacy)
    current, head, pending = EXPECTED[case.name]
    data = state.as_dict()
    assert sorted(data.pop("current")) == sorted(current)
    assert data == {"state": case.state.value, "head": list(head), "pending": list(pending)}


def test_upgradable_and_at_head_flags() -> None:
    """Only empty, behind and legacy are upgradable; only at_head is at head."""
    for name in StateName:
        state = DatabaseState(name, (), (HEAD,))
        assert state.upgradable is (name in {StateName.EMPTY, StateName.BEHIND, StateName.LEGACY})
        assert state.at_head is (name is StateName.AT_HEAD)


def test_inspect_ends_a_transaction_the_caller_left_open(sqlite_url: str) -> None:
    """A connection handed over inside a transaction comes back outside of it."""
    engine = sa.create_engine(sqlite_url, poolclass=sa.NullPool)
    sqlite_support.make_transactional(engine)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            assert connection.in_transaction()
            state = inspect_database(connection, SCRIPTS[MIGRATIONS_DIR], detect_legacy)
            assert not connection.in_transaction()
            assert not driver_in_transaction(connection)
    finally:
        engine.dispose()
    assert state.name is StateName.EMPTY
