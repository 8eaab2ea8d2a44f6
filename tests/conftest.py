"""Fixtures shared by the test suite: empty databases on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from pytest_postgresql import factories

from ibutsu_server import create_app
from ibutsu_server.testing import postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
DIALECTS = ["sqlite", "postgresql"]


# A throwaway server, started only when no other server is found.
postgresql_throwaway = factories.postgresql_proc(
    executable=postgres.find_pg_ctl() or "pg_ctl", port=None
)


def _can_start_throwaway_server() -> bool:
    return postgres.find_pg_ctl() is not None and os.geteuid() != 0


@pytest.fixture(scope="session")
def postgres_server_url(request: pytest.FixtureRequest) -> str:
    """URL of a PostgreSQL server the tests may create databases on."""
    url = os.environ.get(postgres.URL_VARIABLE)
    if url:
        return url
    if postgres.server_answers(postgres.LOCAL_SERVER_URL):
        return postgres.LOCAL_SERVER_URL
    if _can_start_throwaway_server():
        executor = request.getfixturevalue("postgresql_throwaway")
        return f"postgresql://{executor.user}@{executor.host}:{executor.port}/postgres"
    reason = (
        f"no PostgreSQL: {postgres.URL_VARIABLE} is unset, nothing answers at"
        " 127.0.0.1:5432, and no throwaway server can be started"
        " (pg_ctl missing, or running as root)"
    )
    if postgres.postgres_required():
        pytest.fail(f"{reason}; {postgres.REQUIRE_VARIABLE} forbids skipping", pytrace=False)
    pytest.skip(reason)


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new, empty SQLite database file."""
    return f"sqlite:///{tmp_path / 'ibutsu.db'}"


@pytest.fixture()
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    name = postgres.unique_name()
    url = postgres.create_database(postgres_server_url, name)
    try:
        yield url
    finally:
        postgres.drop_database(postgres_server_url, name)


@pytest.fixture(params=DIALECTS)
def empty_url(request: pytest.FixtureRequest) -> str:
    """URL of a new, empty database, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture()
def app(empty_url: str) -> Flask:
    """An Ibutsu app bound to an empty database."""
    return create_app({"SQLALCHEMY_DATABASE_URI": empty_url, "TESTING": True})
