"""Templates and their clones in a tablespace of their own (``IBUTSU_TEST_POSTGRES_TABLESPACE``).

A tablespace in tmpfs makes ``CREATE DATABASE ... TEMPLATE`` fast; CI makes one
with ``.ci/tmpfs-tablespace``. The tests that need it on the test server skip,
saying so, where none is configured.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from guard_processes import throwaway_server
from plugin_support import builds, server_rows

from ibutsu_server.testing import postgres, templates

pytest_plugins = ["pytester"]

WHERE_AM_I = '''
import os

import sqlalchemy as sa


def test_where(ibutsu_db_url):
    engine = sa.create_engine(ibutsu_db_url)
    with engine.connect() as connection:
        found = connection.execute(sa.text(
            "SELECT spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace"
            " WHERE datname = current_database()"
        )).scalar()
        assert connection.execute(sa.text("SELECT count(*) FROM counted")).scalar() == 0
    engine.dispose()
    assert found == os.environ["EXPECTED_TABLESPACE"]
'''


@pytest.fixture()
def tablespace(ibutsu_db_postgres_tablespace: str | None) -> str:
    if not ibutsu_db_postgres_tablespace:
        pytest.skip(
            f"no tablespace configured: {postgres.TABLESPACE_VARIABLE} is unset"
            " (.ci/tmpfs-tablespace makes one, as root, on a local server)"
        )
    return ibutsu_db_postgres_tablespace


@pytest.fixture()
def key(postgres_server_url: str, counted_scripts: Path, tablespace: str) -> Iterator[str]:
    """The scripts' key; both of its templates are dropped afterwards."""
    key = templates.migrations_key(str(counted_scripts))
    yield key
    for where in (None, tablespace):
        templates.drop_postgres_template(postgres_server_url, key, where)


def _tablespace_of(server_url: str, database: str) -> str | None:
    rows = server_rows(
        server_url,
        "SELECT spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace"
        " WHERE datname = :name",
        name=database,
    )
    return rows[0][0] if rows else None


def _passes_once(pytester: pytest.Pytester, *options: str) -> None:
    """Run the probe; on failure, show the inner run's output, not only its outcome."""
    result = pytester.runpytest_subprocess(*options)
    assert result.parseoutcomes() == {"passed": 1}, result.stdout.str()[-4000:]


def test_clones_live_where_the_setting_says(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    postgres_server_url: str,
    counted_scripts: Path,
    tablespace: str,
    key: str,
) -> None:
    """With the setting, template and clones are in the tablespace; without, in pg_default."""
    pytester.makepyfile(test_where=WHERE_AM_I)
    options = ("--ibutsu-db-dialects", "postgresql")
    monkeypatch.setenv("EXPECTED_TABLESPACE", tablespace)
    _passes_once(pytester, *options)
    monkeypatch.delenv(postgres.TABLESPACE_VARIABLE)
    monkeypatch.setenv("EXPECTED_TABLESPACE", "pg_default")
    _passes_once(pytester, *options)
    pytester.makeini(f"[pytest]\nibutsu_db_postgres_tablespace = {tablespace}\n")
    monkeypatch.setenv("EXPECTED_TABLESPACE", tablespace)
    _passes_once(pytester, *options)

    assert len(builds(counted_scripts)) == 2, "one template per tablespace; later runs reuse it"
    assert _tablespace_of(postgres_server_url, templates.template_name(key)) == "pg_default"
    in_tablespace = templates.template_name(key, tablespace)
    assert _tablespace_of(postgres_server_url, in_tablespace) == tablespace


def test_an_unknown_tablespace_fails_with_the_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, postgres_server_url: str
) -> None:
    """A tablespace the server lacks fails every PostgreSQL test with the command that fixes it."""
    missing = f"ibutsu_missing_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(postgres.TABLESPACE_VARIABLE, missing)
    pytester.makepyfile(test_where=WHERE_AM_I)
    result = pytester.runpytest_subprocess("--ibutsu-db-dialects", "postgresql")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*tablespace '{missing}' does not exist on the server*CREATE TABLESPACE \"{missing}\"*"]
    )
    suffix = templates.template_name("any", missing).rsplit("_", 1)[1]
    leftovers = server_rows(
        postgres_server_url, "SELECT datname FROM pg_database WHERE datname LIKE :name",
        name=f"%{suffix}%",
    )
    assert leftovers == [], "nothing was created"


def test_a_template_whose_files_were_lost_is_built_again(counted_scripts: Path) -> None:
    """A listed template whose files are gone (its tablespace emptied while the server was down,
    as tmpfs is by a reboot): the next run drops it and builds it again.

    On a throwaway server: removing a live database's files under a running server would
    make its checkpoints fail, and with them every other session's DROP DATABASE.
    """
    from ibutsu_server.testing.migrate import migrate_to_head

    def migrate(url: str) -> None:
        migrate_to_head(url, str(counted_scripts))

    key = templates.migrations_key(str(counted_scripts))
    with throwaway_server() as server:
        folder = server.root / "tablespace"
        folder.mkdir()
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE TABLESPACE lost_files LOCATION '{folder}'")
        admin.dispose()
        name = templates.ensure_postgres_template(server.url, key, migrate, "lost_files")
        [(oid,)] = server_rows(
            server.url, "SELECT oid FROM pg_database WHERE datname = :name", name=name
        )
        server.stop_server()
        [files] = glob.glob(os.path.join(folder, "PG_*", str(oid)))
        shutil.rmtree(files)
        server.start()

        assert templates.ensure_postgres_template(server.url, key, migrate, "lost_files") == name
        assert len(builds(counted_scripts)) == 2
        with postgres.DatabaseMaker(server.url) as maker:
            url = maker.create("clone", name)
            engine = sa.create_engine(url)
            with engine.connect() as connection:
                assert connection.execute(sa.text("SELECT count(*) FROM counted")).scalar() == 0
            engine.dispose()
