"""Databases from before Alembic: a proven one is stamped at the baseline and upgraded;
one that is too old or does not match its claim is refused and left alone.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from guard_databases import (
    BASELINE,
    CHAIN,
    HEAD,
    Case,
    app_config,
    case_params,
    cases_in,
    fresh_url,
    make_engine,
    snapshot,
    table_names,
    version_rows,
)
from legacy_databases import LegacySample, build_legacy_database, insert_sample_rows

from ibutsu_server import create_app
from ibutsu_server.guard import (
    LegacyTooOldError,
    LegacyUnprovenError,
    NotUpToDateError,
    StateName,
    app_guard,
)

# The indexes only migrations make, on PostgreSQL only.
POSTGRESQL_ONLY_INDEXES = frozenset(
    {
        "ix_results_assignee",
        "ix_results_classification",
        "ix_results_exception_name",
        "ix_results_jenkins_build_number",
        "ix_results_jenkins_job_name",
        "ix_results_component_env_project",
        "ix_results_component_start_time_result_project_id",
        "ix_results_result_satver_project_id_run_id_snapver",
        "ix_results_requirements",
        "ix_results_tags",
        "ix_runs_jenkins_build_number",
        "ix_runs_jenkins_job_name",
        "ix_runs_jjn_jbn",
        "ix_runs_summary",
        "ix_runs_tags",
        "ix_runs_pass_percent",
    }
)
ROW_COUNTS = {
    "users": 1,
    "projects": 1,
    "runs": 1,
    "results": 1,
    "imports": 1,
    "import_files": 1,
}
REFUSED = {
    StateName.LEGACY_TOO_OLD: LegacyTooOldError,
    StateName.LEGACY_UNPROVEN: LegacyUnprovenError,
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the guard's variables the test process inherited."""
    for name in list(os.environ):
        if name.startswith("IBUTSU_DB_"):
            monkeypatch.delenv(name)


@pytest.fixture()
def legacy_url(empty_url: str) -> str:
    """A proven legacy database (meta version 9) with a few rows, on each dialect."""
    build_legacy_database(empty_url)
    insert_sample_rows(empty_url)
    return empty_url


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def assert_migrated(url: str) -> None:
    """The legacy database is at head, without meta, with its rows and their values."""
    sample = LegacySample()
    assert version_rows(url) == [HEAD]
    assert "meta" not in table_names(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            for table, count in ROW_COUNTS.items():
                assert connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == count
            name = connection.exec_driver_sql("SELECT name FROM projects").scalar()
            assert name == sample.project_name
            data = connection.exec_driver_sql("SELECT data FROM results").scalar()
            assert _json(data) == dict(sample.result_data)
            content = connection.exec_driver_sql("SELECT content FROM import_files").scalar()
            assert content is not None and bytes(content) == sample.import_content
            created = connection.exec_driver_sql("SELECT created FROM imports").scalar()
            assert created is not None
            summary = _json(connection.exec_driver_sql("SELECT summary FROM runs").scalar())
            inspector = sa.inspect(connection)
            imports = {column["name"]: column for column in inspector.get_columns("imports")}
            assert imports["created"]["nullable"] is False
            cascade = [
                fk["options"].get("ondelete")
                for fk in inspector.get_foreign_keys("import_files")
                if fk["referred_table"] == "imports"
            ]
            assert cascade == ["CASCADE"]
            if engine.dialect.name == "postgresql":
                indexes = {
                    row[0]
                    for row in connection.exec_driver_sql(
                        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
                    )
                }
                assert POSTGRESQL_ONLY_INDEXES <= indexes
                assert summary == {**dict(sample.run_summary), "pass_percent": sample.pass_percent}
            else:
                assert summary == dict(sample.run_summary)
    finally:
        engine.dispose()


def test_upgrade_mode_stamps_and_upgrades(
    legacy_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Booting in upgrade mode stamps the baseline, then upgrades; the data comes through."""
    caplog.set_level(logging.INFO, logger="ibutsu_server.guard")
    app = create_app(app_config(legacy_url, "upgrade"))
    state = app_guard(app).last_state
    assert state is not None and state.name is StateName.AT_HEAD
    assert_migrated(legacy_url)
    messages = [record.getMessage() for record in caplog.records]
    proven = next(i for i, m in enumerate(messages) if "Legacy database (version 9) proven" in m)
    stamped = next(i for i, m in enumerate(messages) if m.startswith(f"Stamped {BASELINE}"))
    applied = [
        next(i for i, m in enumerate(messages) if m.startswith(f"Applied {revision}"))
        for revision in CHAIN[1:]
    ]
    assert proven < stamped < applied[0]
    assert applied == sorted(applied)
    assert not any(m.startswith(f"Applied {BASELINE}") for m in messages)


def test_check_mode_names_the_legacy_state(legacy_url: str) -> None:
    """check refuses to boot, says the database predates Alembic, and writes nothing."""
    before = snapshot(legacy_url)
    with pytest.raises(NotUpToDateError) as raised:
        create_app(app_config(legacy_url, "check"))
    assert raised.value.state is not None
    assert raised.value.state.name is StateName.LEGACY
    message = str(raised.value)
    assert "predates Alembic" in message and "legacy version '9'" in message
    assert f"baseline {BASELINE} will be stamped" in message
    assert snapshot(legacy_url) == before


def test_flask_db_upgrade_does_the_same(legacy_url: str) -> None:
    """`flask db upgrade` on a legacy database does what booting in upgrade mode does."""
    app = create_app(app_config(legacy_url, "off"))
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "state:   at_head" in result.output
    assert_migrated(legacy_url)


@pytest.mark.parametrize("version", ["10", "11"])
def test_pre_release_levels_count_as_legacy(sqlite_url: str, version: str) -> None:
    """Levels 10 and 11 (never released, but seen on stage) are past 9: proven legacy."""
    build_legacy_database(sqlite_url, version=version)
    app = create_app(app_config(sqlite_url, "off"))
    state = app_guard(app).runner.inspect()
    assert state.name is StateName.LEGACY
    assert state.legacy is not None and state.legacy.version == version


@pytest.mark.parametrize(
    ("case", "dialect"),
    case_params(cases_in(StateName.LEGACY_TOO_OLD, StateName.LEGACY_UNPROVEN)),
)
def test_refused_in_every_mode(case: Case, dialect: str, request: pytest.FixtureRequest) -> None:
    """Too old or unproven: check, wait, upgrade and `flask db upgrade` refuse; nothing
    is written. Only off boots, as it does for anything.
    """
    url = fresh_url(request, dialect)
    case.build(url)
    before = snapshot(url)
    error = REFUSED[case.state]
    for mode in ("check", "wait", "upgrade"):
        with pytest.raises(error) as raised:
            create_app(app_config(url, mode, IBUTSU_DB_WAIT_TIMEOUT=5))
        assert raised.value.state is not None and raised.value.state.name is case.state
        assert snapshot(url) == before, mode
    app: Flask = create_app(app_config(url, "off"))
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 4, result.output
    assert f"Refusing to use the database ({case.state.value})" in result.output
    assert snapshot(url) == before
