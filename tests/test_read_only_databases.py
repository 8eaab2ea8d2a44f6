"""Databases that accept no writes: a read-only session, a read-only SQLite file, a hot
standby. The commands that only read work there and write nothing; the ones that write
end with a guard error, not a traceback.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from guard_databases import HEAD, app_config, migrate_to, snapshot
from guard_processes import hot_standby, query, throwaway_server, wait_until

from ibutsu_server import create_app
from flask_migration_guard import StateName
from flask_migration_guard.appstate import app_guard
from flask_migration_guard.errors import NotUpToDateError
from flask_migration_guard.errors import ReadOnlyDatabaseError

pytestmark = pytest.mark.usefixtures("clean_environment")

#: (arguments, exit code at head, exit code on an empty database)
READING = [
    (("status",), 0, 3),
    (("current",), 0, 0),
    (("current", "-v"), 0, 0),
    (("history",), 0, 0),
    (("history", "-v"), 0, 0),
    (("heads",), 0, 0),
    (("check",), 0, 1),
]


def _read_only(url: str) -> dict[str, Any]:
    """Settings that open ``url`` so that it refuses every write."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///file:{parsed.database}?mode=ro&uri=true"}
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "poolclass": sa.NullPool,
            "connect_args": {"options": "-c default_transaction_read_only=on"},
        },
    }


def _flask_db(url: str, *args: str) -> Result:
    app = create_app({**app_config(url, "off"), **_read_only(url)})
    return app.test_cli_runner().invoke(args=["db", *args])


@pytest.mark.parametrize("at_head", [True, False], ids=["at-head", "empty"])
@pytest.mark.parametrize(("args", "at_head_code", "empty_code"), READING,
                         ids=[" ".join(args) for args, _, _ in READING])
def test_reading_commands_write_nothing(
    empty_url: str, at_head: bool, args: tuple[str, ...], at_head_code: int, empty_code: int
) -> None:
    """status, current, history, heads and check read a read-only database and leave it
    as it was; none tries to create the version table."""
    if at_head:
        migrate_to(empty_url, HEAD)
    before = snapshot(empty_url)
    result = _flask_db(empty_url, *args)
    assert result.exit_code == (at_head_code if at_head else empty_code), result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.output
    assert "Traceback" not in result.output
    assert snapshot(empty_url) == before


@pytest.mark.ibutsu_db_dialects("postgresql")
def test_stamp_on_a_read_only_database_is_a_guard_error(empty_url: str) -> None:
    """stamp cannot write: one clear error that says why, exit 1, nothing written."""
    before = snapshot(empty_url)
    result = _flask_db(empty_url, "stamp", HEAD)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "accepts no writes here" in result.output
    assert "run the migrations against the primary" in result.output
    assert snapshot(empty_url) == before


def test_hot_standby() -> None:
    """On a standby: upgrade mode refuses with the reason, before trying anything; check
    mode reads; once the primary is migrated, both boot at head on the standby."""
    with throwaway_server() as primary, hot_standby(primary) as standby:
        with pytest.raises(ReadOnlyDatabaseError) as refused:
            create_app(app_config(standby.url, "upgrade"))
        message = refused.value.message
        assert "accepts no writes" in message and "a hot standby" in message
        assert "IBUTSU_DB_MIGRATE=check or wait" in message
        with pytest.raises(NotUpToDateError):
            create_app(app_config(standby.url, "check"))

        migrate_to(primary.url, HEAD)
        wait_until(
            lambda: "alembic_version" in {
                row[0] for row in query(standby.url, "SELECT tablename FROM pg_tables")
            },
            "the standby to replay the migrations",
        )
        for mode in ("check", "upgrade"):
            state = app_guard(create_app(app_config(standby.url, mode))).last_state
            assert state is not None and state.name is StateName.AT_HEAD
