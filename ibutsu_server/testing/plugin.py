"""The ``ibutsu_db`` pytest plugin: fresh migrated databases for tests, in constant time.

Registered through the ``pytest11`` entry point, so installing ibutsu_server
enables it. Every fixture is prefixed ``ibutsu_db_`` and may be overridden by
defining a fixture of the same name in a ``conftest.py``.

Once per test run the schema is built by the migrations (or reused from an
earlier run while the migration files are unchanged; see
:mod:`ibutsu_server.testing.templates`). Then:

- ``ibutsu_db_url``: a fresh migrated database of this test's own, cloned from
  the template (PostgreSQL ``CREATE DATABASE ... TEMPLATE``, a file copy on
  SQLite), dropped afterwards;
- ``ibutsu_db_app``: an Ibutsu app bound to ``ibutsu_db_url``;
- ``ibutsu_db_session``: the cheapest: ``db.session`` inside one transaction on
  a database shared by the tests of a worker, rolled back at the end; code under
  test may commit, which only releases a SAVEPOINT;
- ``ibutsu_db_empty_url``: a new database with no tables, for migration tests.

Tests that use these fixtures run once per dialect of the ``ibutsu_db_dialects``
ini option (default ``sqlite postgresql``), or of the ``--ibutsu-db-dialects``
option; ``@pytest.mark.ibutsu_db_dialects("postgresql")`` narrows one test.
Under pytest-xdist each worker clones its own databases and the template is
built once. On PostgreSQL each worker creates and drops them over one open
connection (``ibutsu_db_postgres_maker``), in the tablespace that
``ibutsu_db_postgres_tablespace`` names, if any (a tmpfs one makes clones fast).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator, Iterator
from typing import Any
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from flask import Flask

from ibutsu_server.testing import postgres, templates

try:
    from pytest_postgresql import factories
except ImportError:  # the package's 'test' extra is not installed
    factories = None  # type: ignore[assignment]

#: What to install for the throwaway PostgreSQL server, when it is missing.
TEST_EXTRA = "pip install 'ibutsu-server-db[test]'"

DIALECTS = ("sqlite", "postgresql")
MARKER = "ibutsu_db_dialects"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ibutsu_db", "Ibutsu test databases")
    group.addoption(
        "--ibutsu-db-dialects",
        default=None,
        help="Space-separated dialects to run database tests on (sqlite, postgresql).",
    )
    group.addoption(
        "--ibutsu-db-drop-templates",
        action="store_true",
        help="Drop PostgreSQL template databases built from other migration files.",
    )
    parser.addini(
        "ibutsu_db_local_postgres",
        default=postgres.LOCAL_SERVER_URL,
        help="The local PostgreSQL server to try when IBUTSU_TEST_POSTGRES_URL is unset.",
    )
    parser.addini(
        "ibutsu_db_postgres_tablespace",
        default="",
        help=(
            "Tablespace for the PostgreSQL template and its clones (a tmpfs one makes"
            f" clones fast); {postgres.TABLESPACE_VARIABLE} overrides it."
        ),
    )
    parser.addini(
        "ibutsu_db_dialects",
        default="sqlite postgresql",
        help="Dialects to run database tests on (default: sqlite postgresql).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(*dialects): run this database test on these dialects only"
    )


def _configured_dialects(config: pytest.Config) -> list[str]:
    raw = config.getoption("--ibutsu-db-dialects") or config.getini("ibutsu_db_dialects")
    dialects = str(raw).split()
    unknown = [d for d in dialects if d not in DIALECTS]
    if unknown:
        raise pytest.UsageError(f"ibutsu_db_dialects: unknown {unknown}; allowed: {DIALECTS}")
    return dialects


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ibutsu_db_dialect" not in metafunc.fixturenames:
        return
    dialects = _configured_dialects(metafunc.config)
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is not None:
        dialects = [d for d in dialects if d in marker.args]
    metafunc.parametrize("ibutsu_db_dialect", dialects, indirect=True, scope="session")


@pytest.fixture(scope="session")
def ibutsu_db_dialect(request: pytest.FixtureRequest) -> str:
    """The dialect of this test's databases; set by parametrization (overridable)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def ibutsu_db_directory() -> str:
    """The script directory the databases are migrated with (overridable).

    Defaults to ``IBUTSU_DB_MIGRATIONS_DIR``, else the package's migrations.
    """
    from ibutsu_server import MIGRATIONS_DIR

    return os.environ.get("IBUTSU_DB_MIGRATIONS_DIR", MIGRATIONS_DIR)


if factories is not None:
    #: A throwaway server from pytest-postgresql, started only when no other server
    #: answers; ``ibutsu_db_postgres_server`` names the pg_ctl it runs.
    ibutsu_db_postgres_proc = factories.postgresql_proc(port=None)
else:

    @pytest.fixture(scope="session")
    def ibutsu_db_postgres_proc() -> None:
        """Stands in for pytest-postgresql's throwaway server when that is not installed."""
        pytest.fail(
            "No PostgreSQL server answers, and pytest-postgresql, which would start a"
            f" throwaway one, is not installed: {TEST_EXTRA}, or set"
            f" {postgres.URL_VARIABLE} to a server the tests may create databases on.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def ibutsu_db_postgres_server(request: pytest.FixtureRequest) -> str:
    """URL of a PostgreSQL server the tests may create databases on (overridable).

    Found as :mod:`ibutsu_server.testing.postgres` describes; skips, or fails
    under ``IBUTSU_TEST_REQUIRE_POSTGRES=1``, with the reason when there is none.
    """
    url = os.environ.get(postgres.URL_VARIABLE)
    if url:
        return url
    local = str(request.config.getini("ibutsu_db_local_postgres"))
    if postgres.server_answers(local):
        return local
    pg_ctl = postgres.find_pg_ctl()
    if pg_ctl is not None and os.geteuid() != 0 and factories is not None:
        request.config.option.postgresql_exec = pg_ctl
        executor = request.getfixturevalue("ibutsu_db_postgres_proc")
        return f"postgresql://{executor.user}@{executor.host}:{executor.port}/postgres"
    if factories is None:
        why = f"pytest-postgresql is not installed: {TEST_EXTRA}"
    elif pg_ctl is None:
        why = "pg_ctl not found"
    else:
        why = "initdb refuses to run as root"
    reason = (
        f"no PostgreSQL: {postgres.URL_VARIABLE} is unset, nothing answers at"
        f" {make_url(local).render_as_string(hide_password=True)},"
        f" and no throwaway server can be started ({why})"
    )
    if postgres.postgres_required():
        pytest.fail(f"{reason}; {postgres.REQUIRE_VARIABLE} forbids skipping", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ibutsu_db_postgres_tablespace(request: pytest.FixtureRequest) -> str | None:
    """The tablespace for the template and its clones, or None for the default (overridable).

    ``IBUTSU_TEST_POSTGRES_TABLESPACE``, else the ``ibutsu_db_postgres_tablespace``
    ini option.
    """
    name = os.environ.get(postgres.TABLESPACE_VARIABLE) or request.config.getini(
        "ibutsu_db_postgres_tablespace"
    )
    return str(name) or None


@pytest.fixture(scope="session")
def ibutsu_db_postgres_maker(
    ibutsu_db_postgres_server: str,
) -> Iterator[postgres.DatabaseMaker]:
    """This worker's open connection for creating and dropping test databases."""
    with postgres.DatabaseMaker(ibutsu_db_postgres_server) as maker:
        yield maker


def _cache_dir(config: pytest.Config) -> str:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return str(cache.mkdir("ibutsu-db"))
    return os.path.join(tempfile.gettempdir(), "ibutsu-db-templates")


@pytest.fixture(scope="session")
def ibutsu_db_template(
    request: pytest.FixtureRequest, ibutsu_db_dialect: str, ibutsu_db_directory: str
) -> str:
    """The migrated template: a database name on PostgreSQL, a file path on SQLite."""
    from ibutsu_server.testing.migrate import migrate_to_head

    key = templates.migrations_key(ibutsu_db_directory)

    def migrate(url: str) -> None:
        migrate_to_head(url, ibutsu_db_directory)

    if ibutsu_db_dialect == "postgresql":
        server = request.getfixturevalue("ibutsu_db_postgres_server")
        if request.config.getoption("--ibutsu-db-drop-templates"):
            templates.drop_postgres_templates(server, keep_key=key)
        tablespace = request.getfixturevalue("ibutsu_db_postgres_tablespace")
        try:
            return templates.ensure_postgres_template(server, key, migrate, tablespace)
        except templates.TablespaceError as error:
            pytest.fail(str(error), pytrace=False)
    return templates.ensure_sqlite_template(_cache_dir(request.config), key, migrate)


def _fresh_database(
    request: pytest.FixtureRequest, dialect: str, folder: Path, template: str | None
) -> Generator[str, None, None]:
    if dialect == "sqlite":
        destination = str(folder / f"{postgres.unique_name('ibutsu')}.db")
        if template is None:
            yield f"sqlite:///{destination}"
        else:
            yield templates.clone_sqlite(template, destination)
        return
    maker: postgres.DatabaseMaker = request.getfixturevalue("ibutsu_db_postgres_maker")
    tablespace = request.getfixturevalue("ibutsu_db_postgres_tablespace")
    # Made at once, not ahead on a thread while the test before runs: DROP DATABASE
    # forces a checkpoint, which would write out the clone made ahead (about 1,000
    # buffers a test). Measured: slower on disk, barely faster in tmpfs.
    name = postgres.unique_name()
    url = maker.create(name, template, tablespace)
    try:
        yield url
    finally:
        maker.drop(name)


@pytest.fixture()
def ibutsu_db_url(
    request: pytest.FixtureRequest,
    ibutsu_db_dialect: str,
    ibutsu_db_template: str,
    tmp_path: Path,
) -> Iterator[str]:
    """URL of a fresh migrated database for this test alone, dropped afterwards."""
    yield from _fresh_database(request, ibutsu_db_dialect, tmp_path, ibutsu_db_template)


@pytest.fixture()
def ibutsu_db_empty_url(
    request: pytest.FixtureRequest, ibutsu_db_dialect: str, tmp_path: Path
) -> Iterator[str]:
    """URL of a new database with no tables at all, dropped afterwards."""
    yield from _fresh_database(request, ibutsu_db_dialect, tmp_path, None)


@pytest.fixture()
def ibutsu_db_app(ibutsu_db_url: str, ibutsu_db_directory: str) -> Flask:
    """An Ibutsu app bound to this test's fresh migrated database (``check`` mode)."""
    from ibutsu_server import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": ibutsu_db_url,
            "IBUTSU_DB_MIGRATIONS_DIR": ibutsu_db_directory,
            "IBUTSU_DB_MIGRATE": "check",
            "TESTING": True,
        }
    )


@pytest.fixture(scope="session")
def ibutsu_db_shared_app(
    request: pytest.FixtureRequest,
    ibutsu_db_dialect: str,
    ibutsu_db_template: str,
    ibutsu_db_directory: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Flask]:
    """An app on one migrated database that this worker's transactional tests share."""
    from ibutsu_server import create_app
    from ibutsu_server.db import db

    folder = tmp_path_factory.mktemp("ibutsu-db-shared")
    databases = _fresh_database(request, ibutsu_db_dialect, folder, ibutsu_db_template)
    url = next(databases)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "IBUTSU_DB_MIGRATIONS_DIR": ibutsu_db_directory,
            "IBUTSU_DB_MIGRATE": "check",
            "TESTING": True,
        }
    )
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        databases.close()


@pytest.fixture()
def ibutsu_db_session(ibutsu_db_shared_app: Flask) -> Iterator[sa.orm.scoped_session[Any]]:
    """``db.session`` inside a transaction that is rolled back after the test.

    The app context of the shared app is pushed. ``db.session.commit()`` in code
    under test releases a SAVEPOINT; nothing reaches the database for good.
    """
    from ibutsu_server.testing.transaction import rolled_back_session

    with ibutsu_db_shared_app.app_context(), rolled_back_session() as session:
        yield session
