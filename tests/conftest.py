"""Fixtures shared by the test suite: empty databases on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from guard_databases import Case, SharedDatabases, server_url, shared_databases
from guard_processes import Processes, spawned

from ibutsu_server import create_app
from ibutsu_server.db import db
import sqlite_transactions as sqlite_support
from ibutsu_server.testing import postgres

REPO_ROOT = Path(__file__).resolve().parent.parent

# The cheapest bcrypt cost for the tests' users; test_passwords checks the default.
os.environ.setdefault("BCRYPT_LOG_ROUNDS", "4")

# Databases come from the ibutsu_db plugin (ibutsu_server/testing/plugin.py); the
# fixtures below only give its fixtures the short names these tests use.


@pytest.fixture(scope="session")
def postgres_server_url(ibutsu_db_postgres_server: str) -> str:
    """URL of a PostgreSQL server the tests may create databases on."""
    return ibutsu_db_postgres_server


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new, empty SQLite database file."""
    return f"sqlite:///{tmp_path / 'ibutsu.db'}"


@pytest.fixture()
def postgres_url(
    ibutsu_db_postgres_maker: postgres.DatabaseMaker, ibutsu_db_postgres_tablespace: str | None
) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    name = postgres.unique_name()
    url = ibutsu_db_postgres_maker.create(name, tablespace=ibutsu_db_postgres_tablespace)
    try:
        yield url
    finally:
        ibutsu_db_postgres_maker.drop(name)


@pytest.fixture()
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Children started by the test, all reaped at its end."""
    with spawned(tmp_path) as started:
        yield started


@pytest.fixture()
def counted_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of ``tests/scripts/counted`` with a template key no other run shares.

    Its one revision notes each build (the dialect's name) in ``builds.log``
    beside it; :func:`plugin_support.builds` reads them.
    """
    directory = tmp_path / "scripts"
    shutil.copytree(REPO_ROOT / "tests" / "scripts" / "counted", directory)
    (directory / "run-id.txt").write_text(uuid.uuid4().hex)
    monkeypatch.setenv("IBUTSU_DB_MIGRATIONS_DIR", str(directory))
    monkeypatch.setenv("IBUTSU_COUNT_FILE", str(tmp_path / "builds.log"))
    return directory


@pytest.fixture()
def empty_url(ibutsu_db_empty_url: str) -> str:
    """URL of a new, empty database, once per dialect (SQLite, PostgreSQL)."""
    return ibutsu_db_empty_url


@pytest.fixture()
def alembic_config() -> Config:
    """A fresh Alembic ``Config`` loaded from the repository's ``alembic.ini``."""
    return Config(str(REPO_ROOT / "alembic.ini"))


class Migrate(Protocol):
    """Signature of the :func:`migrate` fixture."""

    def __call__(self, url: str, action: str, revision: str, **kwargs: Any) -> None:
        """Run ``alembic.command.<action>(config, revision, **kwargs)`` on ``url``."""


@pytest.fixture()
def migrate(alembic_config: Config) -> Migrate:
    """Run ``alembic.command.<action>`` in-process on the database at a URL.

    The URL reaches env.py the way it does in the application: through an app
    built by ``create_app`` whose context is active. The app's engine is
    disposed of afterwards.
    """

    def run(url: str, action: str, revision: str, **kwargs: Any) -> None:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url}, guard=False)
        with app.app_context():
            try:
                getattr(command, action)(alembic_config, revision, **kwargs)
            finally:
                db.engine.dispose()

    return run


@pytest.fixture()
def make_engine() -> Iterator[Callable[[str], sa.Engine]]:
    """Make engines without pooling (SQLite ones made transactional), disposed after the test."""
    engines: list[sa.Engine] = []

    def make(url: str) -> sa.Engine:
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        sqlite_support.make_transactional(engine)
        engines.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in engines:
            engine.dispose()


@pytest.fixture()
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the guard's and the database's variables the test process inherited."""
    for name in list(os.environ):
        if name.startswith(("IBUTSU_DB_", "POSTGRES")) or name == "SQLALCHEMY_DATABASE_URI":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def shared(request: pytest.FixtureRequest) -> SharedDatabases:
    """The case databases of tests/guard_databases.py, shared by the session: read only."""
    return shared_databases(request.config)


@pytest.fixture()
def case_url(
    request: pytest.FixtureRequest, case: Case, dialect: str, shared: SharedDatabases
) -> str:
    """The URL of the test's case on the test's dialect, shared: only for tests that read."""
    return shared.url(case, dialect, server_url(request, dialect))
