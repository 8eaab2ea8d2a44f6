"""Dialects other than PostgreSQL and SQLite are refused before anything is written.

Ibutsu's migrations run on PostgreSQL and SQLite only; on MariaDB ``flask db
upgrade`` used to create some tables and then fail. These tests point the app at
the MariaDB server at 127.0.0.1:3306 (database ``test``, user ``root`` without a
password) and check that nothing is created there. Without that server they skip,
or fail under ``IBUTSU_TEST_REQUIRE_POSTGRES=1`` (as in CI).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from guard_databases import app_config
from test_cli import flask_db_loading_the_app

from ibutsu_server import create_app
from flask_migration_guard.errors import GuardConfigError
from flask_migration_guard.errors import database_reason
from ibutsu_server.testing import postgres

pytestmark = pytest.mark.usefixtures("clean_environment")

MARIADB_URLS = (
    "mysql+pymysql://root@127.0.0.1:3306/test",
    "mariadb+pymysql://root@127.0.0.1:3306/test",
)
EXPECTED = "SQLALCHEMY_DATABASE_URI must be a URL of a supported database, 'postgresql' or 'sqlite'"
FIX = "point SQLALCHEMY_DATABASE_URI at a PostgreSQL database"


def _table_names(url: str) -> list[str]:
    """The database's table names, sorted."""
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            return sorted(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture()
def mariadb_tables() -> Callable[[str], list[str]]:
    """What lists a MariaDB database's tables; skips without the server (fails under
    ``IBUTSU_TEST_REQUIRE_POSTGRES=1``)."""
    try:
        _table_names(MARIADB_URLS[0])
    except (ImportError, sa.exc.OperationalError) as exc:
        reason = f"no MariaDB at {MARIADB_URLS[0]!r}: {database_reason(exc)}"
        if postgres.postgres_required():
            pytest.fail(f"{reason}; {postgres.REQUIRE_VARIABLE} forbids skipping", pytrace=False)
        pytest.skip(reason)
    return _table_names


def _words(url: str, dialect: str) -> list[str]:
    return [EXPECTED, f"got {url!r}", f"(found dialect {dialect!r}", FIX]


@pytest.mark.parametrize("url", MARIADB_URLS)
def test_create_app_refuses_mariadb_before_writing(
    url: str, mariadb_tables: Callable[[str], list[str]]
) -> None:
    """create_app in upgrade mode raises the config error and creates no table."""
    before = mariadb_tables(url)
    with pytest.raises(GuardConfigError) as raised:
        create_app(app_config(url, "upgrade"))
    assert raised.value.key == "SQLALCHEMY_DATABASE_URI"
    for word in _words(url, sa.make_url(url).get_backend_name()):
        assert word in raised.value.message, raised.value.message
    assert mariadb_tables(url) == before


@pytest.mark.parametrize("url", MARIADB_URLS)
def test_flask_db_upgrade_refuses_mariadb_before_writing(
    url: str, mariadb_tables: Callable[[str], list[str]]
) -> None:
    """``flask db upgrade`` exits 2 with the config error and creates no table."""
    before = mariadb_tables(url)
    result = flask_db_loading_the_app("upgrade", url=url)
    assert result.exit_code == 2, result.output
    for word in _words(url, sa.make_url(url).get_backend_name()):
        assert word in result.output, result.output
    assert mariadb_tables(url) == before
