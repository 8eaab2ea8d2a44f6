"""The ibutsu_db pytest plugin, run from the outside with pytester."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from plugin_support import builds, server_rows

from ibutsu_server.testing import postgres, templates

pytest_plugins = ["pytester"]

PROBE_TESTS = '''
import sqlalchemy as sa


def _version(url):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_fresh_database_is_migrated(ibutsu_db_url, ibutsu_db_dialect):
    assert _version(ibutsu_db_url) == "c0000001"
    assert ibutsu_db_url.startswith(ibutsu_db_dialect)


def test_each_test_gets_its_own(ibutsu_db_url):
    engine = sa.create_engine(ibutsu_db_url)
    with engine.begin() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM counted")).scalar() == 0
        connection.execute(sa.text("INSERT INTO counted (id) VALUES (1)"))
    engine.dispose()


def test_and_again(ibutsu_db_url):
    engine = sa.create_engine(ibutsu_db_url)
    with engine.begin() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM counted")).scalar() == 0
        connection.execute(sa.text("INSERT INTO counted (id) VALUES (1)"))
    engine.dispose()


def test_empty_database_has_no_tables(ibutsu_db_empty_url):
    engine = sa.create_engine(ibutsu_db_empty_url)
    with engine.connect() as connection:
        assert sa.inspect(connection).get_table_names() == []
    engine.dispose()
'''


@pytest.fixture()
def server(
    postgres_server_url: str, counted_scripts: Path, ibutsu_db_postgres_tablespace: str | None
) -> Iterator[str]:
    """The PostgreSQL server; the templates built from the scripts are dropped afterwards."""
    yield postgres_server_url
    key = templates.migrations_key(str(counted_scripts))
    for tablespace in {None, ibutsu_db_postgres_tablespace}:
        templates.drop_postgres_template(postgres_server_url, key, tablespace)


def databases_starting(server_url: str, prefix: str) -> set[str]:
    rows = server_rows(server_url, "SELECT datname FROM pg_database")
    return {row[0] for row in rows if row[0].startswith(prefix)}


def test_templates_are_built_once_per_run_and_reused(
    pytester: pytest.Pytester, counted_scripts: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs, each of eight tests over two dialects: the schema is built once per dialect."""
    prefix = f"ibutsu_probe_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(postgres.PREFIX_VARIABLE, prefix)
    pytester.makepyfile(test_probe=PROBE_TESTS)
    first = pytester.runpytest_subprocess("-p", "no:randomly")
    first.assert_outcomes(passed=8)
    assert builds(counted_scripts) == ["postgresql", "sqlite"]
    second = pytester.runpytest_subprocess()
    second.assert_outcomes(passed=8)
    assert builds(counted_scripts) == ["postgresql", "sqlite"], "unchanged files reuse the template"
    assert databases_starting(server, prefix) == set(), "every per-test database is dropped"


def test_a_changed_migration_file_rebuilds(
    pytester: pytest.Pytester, counted_scripts: Path, server: str
) -> None:
    """Editing a revision file changes the key, so the next run migrates again."""
    pytester.makepyfile(test_probe=PROBE_TESTS)
    first_key = templates.migrations_key(str(counted_scripts))
    try:
        pytester.runpytest_subprocess("-k", "fresh").assert_outcomes(passed=2)
        revision = counted_scripts / "versions" / "c0000001_counted.py"
        revision.write_text(revision.read_text() + "\n# edited\n")
        assert templates.migrations_key(str(counted_scripts)) != first_key
        pytester.runpytest_subprocess("-k", "fresh").assert_outcomes(passed=2)
        assert builds(counted_scripts) == ["postgresql", "postgresql", "sqlite", "sqlite"]
    finally:
        for tablespace in {None, os.environ.get(postgres.TABLESPACE_VARIABLE)}:
            templates.drop_postgres_template(server, first_key, tablespace)


def test_xdist_workers_share_one_template(
    pytester: pytest.Pytester, counted_scripts: Path, server: str
) -> None:
    """Under pytest-xdist each worker clones its own databases from one template."""
    pytester.makepyfile(test_probe=PROBE_TESTS)
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=8)
    assert builds(counted_scripts) == ["postgresql", "sqlite"]


def test_rolled_back_sessions_isolate_tests(pytester: pytest.Pytester) -> None:
    """Code under test may commit; the next test still starts from the migrated schema."""
    pytester.makepyfile(
        test_session='''
        from ibutsu_server.db.models import Project


        def test_commits(ibutsu_db_session):
            ibutsu_db_session.add(Project(name="kept only for this test"))
            ibutsu_db_session.commit()
            assert ibutsu_db_session.query(Project).count() == 1


        def test_sees_nothing(ibutsu_db_session):
            assert ibutsu_db_session.query(Project).count() == 0
        '''
    )
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=4)


def test_app_fixture_and_dialect_marker(pytester: pytest.Pytester) -> None:
    """ibutsu_db_app is at head; the marker narrows a test to one dialect."""
    pytester.makepyfile(
        test_app='''
        import pytest
        from flask_migration_guard.appstate import app_guard


        @pytest.mark.ibutsu_db_dialects("postgresql")
        def test_app_at_head(ibutsu_db_app, ibutsu_db_dialect):
            assert ibutsu_db_dialect == "postgresql"
            assert app_guard(ibutsu_db_app).last_state.at_head
        '''
    )
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_app_at_head?postgresql? PASSED*"])


def test_fixtures_can_be_overridden(
    pytester: pytest.Pytester, counted_scripts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conftest may point the plugin at other scripts by overriding ibutsu_db_directory."""
    pytester.makeconftest(
        f'''
        import pytest


        @pytest.fixture(scope="session")
        def ibutsu_db_directory():
            return {str(counted_scripts)!r}
        '''
    )
    pytester.makepyfile(test_probe=PROBE_TESTS)
    monkeypatch.setenv("IBUTSU_DB_MIGRATIONS_DIR", "/nonexistent")  # only the override names it
    result = pytester.runpytest_subprocess("-k", "fresh", "--ibutsu-db-dialects", "sqlite")
    result.assert_outcomes(passed=1)


def test_the_clone_connection_survives_the_server_closing_it(postgres_server_url: str) -> None:
    """The plugin keeps one connection for CREATE and DROP DATABASE; a closed one is reopened."""
    name = postgres.unique_name()
    with postgres.DatabaseMaker(postgres_server_url) as maker:
        maker.create(name)
        maker.drop(name)
        admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            ended = connection.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE pid <> pg_backend_pid() AND query LIKE 'DROP DATABASE%' || :name || '%'"
                ),
                {"name": name},
            ).scalar()
        admin.dispose()
        assert ended == 1, "the maker's connection was found and closed by the server"
        maker.create(name)
        assert name in databases_starting(postgres_server_url, name)
        maker.drop(name)
    assert databases_starting(postgres_server_url, name) == set()


def test_no_postgresql_is_said_clearly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no server anywhere the PostgreSQL tests skip with the reason, or fail in CI mode."""
    if postgres.find_pg_ctl() is not None and os.geteuid() != 0:
        pytest.skip("a throwaway server would be started here; the reason text is not shown")
    monkeypatch.delenv(postgres.URL_VARIABLE, raising=False)
    monkeypatch.delenv(postgres.REQUIRE_VARIABLE, raising=False)
    pytester.makeini(
        "[pytest]\n"
        "ibutsu_db_local_postgres = postgresql://postgres:pw-secret@127.0.0.1:1/postgres\n"
    )
    pytester.makepyfile(
        test_pg='''
        def test_needs_postgres(ibutsu_db_empty_url):
            pass
        '''
    )
    skipped = pytester.runpytest_subprocess("-rs", "--ibutsu-db-dialects", "postgresql")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*no PostgreSQL: IBUTSU_TEST_POSTGRES_URL is unset*:1/*"])
    assert "pw-secret" not in skipped.stdout.str()
    monkeypatch.setenv(postgres.REQUIRE_VARIABLE, "1")
    failed = pytester.runpytest_subprocess("--ibutsu-db-dialects", "postgresql")
    failed.assert_outcomes(errors=1)
    failed.stdout.fnmatch_lines(["*IBUTSU_TEST_REQUIRE_POSTGRES forbids skipping*"])


def test_a_throwaway_server_is_started_when_none_answers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no URL and nothing at the local address, pytest-postgresql starts a server.

    Runs where that can happen: ``pg_ctl`` exists and the tests are not root. CI
    runs the suite that way too, in ``.ci/fresh-user``.
    """
    if postgres.find_pg_ctl() is None:
        pytest.skip("no pg_ctl: no throwaway server can be started here")
    if os.geteuid() == 0:
        pytest.skip("running as root, where initdb refuses to run; .ci/fresh-user covers it")
    monkeypatch.delenv(postgres.URL_VARIABLE, raising=False)
    monkeypatch.delenv(postgres.TABLESPACE_VARIABLE, raising=False)
    monkeypatch.setenv(postgres.REQUIRE_VARIABLE, "1")
    pytester.makeini(
        "[pytest]\nibutsu_db_local_postgres = postgresql://postgres@127.0.0.1:1/postgres\n"
    )
    pytester.makepyfile(
        test_pg='''
        import sqlalchemy as sa


        def test_on_a_throwaway_server(ibutsu_db_postgres_server, ibutsu_db_url):
            url = sa.make_url(ibutsu_db_url)
            assert url.port not in (1, 5432), url
            assert url.port == sa.make_url(ibutsu_db_postgres_server).port
            engine = sa.create_engine(ibutsu_db_url)
            with engine.connect() as connection:
                rows = connection.execute(sa.text("SELECT count(*) FROM alembic_version"))
                assert rows.scalar() == 1
            engine.dispose()
        '''
    )
    result = pytester.runpytest_subprocess("--ibutsu-db-dialects", "postgresql", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
