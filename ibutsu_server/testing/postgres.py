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
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

URL_VARIABLE = "IBUTSU_TEST_POSTGRES_URL"
REQUIRE_VARIABLE = "IBUTSU_TEST_REQUIRE_POSTGRES"
LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_required() -> bool:
    """Whether a missing PostgreSQL must fail the tests instead of skipping them."""
    return os.environ.get(REQUIRE_VARIABLE, "").lower() in ("1", "true", "yes")


def server_answers(url: str, timeout: int = 2) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``url``."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": timeout}, poolclass=sa.NullPool)
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
    return sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


PREFIX_VARIABLE = "IBUTSU_TEST_DATABASE_PREFIX"


def unique_name(prefix: str | None = None) -> str:
    """A database name no other test uses, starting with ``prefix``.

    The default prefix is ``IBUTSU_TEST_DATABASE_PREFIX``, else ``ibutsu_test``.
    """
    prefix = prefix or os.environ.get(PREFIX_VARIABLE) or "ibutsu_test"
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database ``name`` (optionally from ``template``) and return its URL."""
    engine = admin_engine(server_url)
    try:
        with engine.connect() as connection:
            statement = f'CREATE DATABASE "{name}"'
            if template:
                statement += f' TEMPLATE "{template}"'
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, ending the sessions still connected to it."""
    engine = admin_engine(server_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()
