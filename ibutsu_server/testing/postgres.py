"""Finding a PostgreSQL server for tests, and making and dropping databases on it.

A server is looked for in this order:

1. the URL in ``IBUTSU_TEST_POSTGRES_URL`` (any database on the server; the
   user must be allowed to create databases);
2. the local server at ``postgresql://postgres@127.0.0.1:5432/postgres``, if it
   answers;
3. a throwaway server started by pytest-postgresql, where ``pg_ctl`` exists and
   the tests do not run as root (``initdb`` refuses root).

Otherwise PostgreSQL tests are skipped with the reason, or fail when
``IBUTSU_TEST_REQUIRE_POSTGRES=1`` (as in CI).

``IBUTSU_TEST_POSTGRES_TABLESPACE`` names a tablespace for the template and
its clones. On a tablespace in tmpfs a clone skips the disk's file-metadata
latency, which is most of what ``CREATE DATABASE`` costs on a slow disk.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from ibutsu_server.config import with_installed_driver

URL_VARIABLE = "IBUTSU_TEST_POSTGRES_URL"
REQUIRE_VARIABLE = "IBUTSU_TEST_REQUIRE_POSTGRES"
TABLESPACE_VARIABLE = "IBUTSU_TEST_POSTGRES_TABLESPACE"
LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_required() -> bool:
    """Whether a missing PostgreSQL must fail the tests instead of skipping them."""
    return os.environ.get(REQUIRE_VARIABLE, "").lower() in ("1", "true", "yes")


def server_answers(url: str, timeout: int = 2) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``url``."""
    engine = sa.create_engine(
        with_installed_driver(url), connect_args={"connect_timeout": timeout}, poolclass=sa.NullPool
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def find_pg_ctl() -> str | None:
    """The newest ``pg_ctl`` on the PATH or in Debian's PostgreSQL folders."""
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    url: URL = make_url(server_url).set(database=name)
    return url.render_as_string(hide_password=False)


def admin_engine(server_url: str) -> sa.Engine:
    """An engine for server-wide statements (CREATE and DROP DATABASE): autocommit, no pool."""
    return sa.create_engine(
        with_installed_driver(server_url), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )


PREFIX_VARIABLE = "IBUTSU_TEST_DATABASE_PREFIX"


def unique_name(prefix: str | None = None) -> str:
    """A database name no other test uses, starting with ``prefix``.

    The default prefix is ``IBUTSU_TEST_DATABASE_PREFIX``, else ``ibutsu_test``.
    """
    prefix = prefix or os.environ.get(PREFIX_VARIABLE) or "ibutsu_test"
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class DatabaseMaker:
    """Creates and drops databases on one server over one open autocommit connection.

    A test run keeps one per worker, so a clone costs the server's
    ``CREATE DATABASE`` alone, not a new connection as well. A connection the
    server has closed is opened again once.
    """

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._engine = admin_engine(server_url)
        self._connection: sa.Connection | None = None

    def _execute(self, statement: str) -> None:
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = self._engine.connect()
            try:
                self._connection.exec_driver_sql(statement)
                return
            except sa.exc.DBAPIError as error:
                if not error.connection_invalidated or attempt == 2:
                    raise
                self._connection.close()
                self._connection = None

    def create(self, name: str, template: str | None = None, tablespace: str | None = None) -> str:
        """Create database ``name`` (optionally from ``template``) and return its URL."""
        statement = f'CREATE DATABASE "{name}"'
        if template:
            statement += f' TEMPLATE "{template}"'
        if tablespace:
            statement += f' TABLESPACE "{tablespace}"'
        self._execute(statement)
        return database_url(self.server_url, name)

    def drop(self, name: str) -> None:
        """Drop database ``name``, ending the sessions still connected to it."""
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()

    def __enter__(self) -> DatabaseMaker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def create_database(
    server_url: str, name: str, template: str | None = None, tablespace: str | None = None
) -> str:
    """Create database ``name`` (optionally from ``template``) and return its URL."""
    with DatabaseMaker(server_url) as maker:
        return maker.create(name, template, tablespace)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, ending the sessions still connected to it."""
    with DatabaseMaker(server_url) as maker:
        maker.drop(name)
