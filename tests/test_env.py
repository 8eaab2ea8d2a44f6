"""What env.py does: given connections, transactions, logging and offline mode."""

from __future__ import annotations

import io
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from conftest import REPO_ROOT, Migrate

from ibutsu_server import create_app
from ibutsu_server.db import db

MakeEngine = Callable[[str], sa.Engine]
SOURCE_PROJECT = "c6fd19a7-858a-4226-8c27-d8fa7ddf6d0c"

FAILING_REVISION = '''"""Fails after building a table."""
import sqlalchemy as sa
from alembic import op

revision = "f00dfa11f00d"
down_revision = "d18de2b3253f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("INSERT INTO half_done (id) VALUES (1)")
    raise RuntimeError("this revision fails on purpose")


def downgrade() -> None:
    op.drop_table("half_done")
'''


def _version(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


@pytest.fixture()
def restore_logging() -> Iterator[None]:
    """Undo what ``logging.config.fileConfig`` does to the process's loggers."""
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, (level, handlers, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.disabled = disabled


def test_given_connection_is_used(
    empty_url: str,
    tmp_path: Path,
    alembic_config: Config,
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection in config.attributes is migrated; the configured URL is never opened."""
    decoy = tmp_path / "decoy" / "elsewhere.db"
    decoy.parent.mkdir()
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", f"sqlite:///{decoy}")
    engine = make_engine(empty_url)
    with engine.connect() as connection:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "head")
    assert _version(engine) == "d18de2b3253f"
    assert "runs" in _tables(engine)
    assert list(decoy.parent.iterdir()) == []


def test_given_engine_is_used(
    tmp_path: Path, alembic_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine in config.attributes (as pytest-alembic passes) lends a connection."""
    decoy = tmp_path / "elsewhere.db"
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", f"sqlite:///{decoy}")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}", poolclass=sa.NullPool)
    try:
        alembic_config.attributes["connection"] = engine
        command.upgrade(alembic_config, "fc3df1d9ee4e")
        assert _version(engine) == "fc3df1d9ee4e"
    finally:
        engine.dispose()
    assert not decoy.exists()


def test_in_memory_database_through_connection(alembic_config: Config) -> None:
    """An in-memory SQLite database can be migrated on the one connection that sees it."""
    engine = sa.create_engine("sqlite://", poolclass=sa.StaticPool)
    try:
        with engine.connect() as connection:
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, "head")
            names = set(sa.inspect(connection).get_table_names())
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalar() == "d18de2b3253f"
        assert {"runs", "results", "imports", "alembic_version"} <= names
    finally:
        engine.dispose()


def test_one_transaction_per_revision(
    empty_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """Revisions before a failing one stay committed; the failing one is rolled back."""
    engine = make_engine(empty_url)
    migrate(empty_url, "upgrade", "cacecc4f1237")
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO projects (id, name) VALUES (:id, 'orphan')"),
            {"id": SOURCE_PROJECT},
        )
    with pytest.raises(CommandError, match="does not exist"):
        migrate(empty_url, "upgrade", "head")
    assert _version(engine) == "8cf9148b9ad9"
    assert "meta" not in _tables(engine)
    created = [c for c in sa.inspect(engine).get_columns("imports") if c["name"] == "created"]
    assert created[0]["nullable"] is False


def test_failing_revision_rolls_back_its_ddl(
    empty_url: str, tmp_path: Path, alembic_config: Config, make_engine: MakeEngine
) -> None:
    """A revision that fails midway leaves neither its table nor its rows behind."""
    scripts = tmp_path / "migrations"
    shutil.copytree(
        REPO_ROOT / "ibutsu_server" / "db" / "migrations",
        scripts,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (scripts / "versions" / "f00dfa11f00d_fails.py").write_text(FAILING_REVISION)
    alembic_config.set_main_option("script_location", str(scripts))
    engine = make_engine(empty_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_url}, guard=False)
    with app.app_context():
        try:
            with pytest.raises(RuntimeError, match="on purpose"):
                command.upgrade(alembic_config, "head")
        finally:
            db.engine.dispose()
    assert _version(engine) == "d18de2b3253f"
    assert "half_done" not in _tables(engine)


def _assert_probe_alive(probe: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    assert not probe.disabled
    probe.addHandler(caplog.handler)
    try:
        probe.warning("probe still speaks")
    finally:
        probe.removeHandler(caplog.handler)
    assert ("ibutsu_test_probe", logging.WARNING, "probe still speaks") in caplog.record_tuples


@pytest.mark.usefixtures("restore_logging")
def test_loggers_survive_in_app_context(
    sqlite_url: str, alembic_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgrading in-process under an app keeps existing loggers, the app's included."""
    probe = logging.getLogger("ibutsu_test_probe")
    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_url}, guard=False)
    assert alembic_config.config_file_name == str(REPO_ROOT / "alembic.ini")
    with app.app_context():
        try:
            command.upgrade(alembic_config, "head")
        finally:
            db.engine.dispose()
    _assert_probe_alive(probe, caplog)
    assert not app.logger.disabled
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        app.logger.info("app still speaks")
    assert "app still speaks" in caplog.messages


@pytest.mark.usefixtures("restore_logging")
def test_loggers_survive_without_app(
    sqlite_url: str,
    alembic_config: Config,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without an app, env.py loads alembic.ini's logging and still keeps existing loggers."""
    probe = logging.getLogger("ibutsu_test_probe")
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", sqlite_url)
    logging.getLogger("alembic").setLevel(logging.NOTSET)
    command.upgrade(alembic_config, "head")
    # alembic.ini's [logger_alembic] was applied, so fileConfig did run.
    assert logging.getLogger("alembic").level == logging.INFO
    _assert_probe_alive(probe, caplog)
    engine = sa.create_engine(sqlite_url, poolclass=sa.NullPool)
    try:
        assert _version(engine) == "d18de2b3253f"
    finally:
        engine.dispose()


def _offline(url: str, revision: str) -> str:
    buffer = io.StringIO()
    config = Config(str(REPO_ROOT / "alembic.ini"), output_buffer=buffer)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url}, guard=False)
    with app.app_context():
        command.upgrade(config, revision, sql=True)
    return buffer.getvalue()


def test_offline_sql_up_to_8cf9148b9ad9(
    empty_url: str, make_engine: MakeEngine
) -> None:
    """``upgrade 8cf9148b9ad9 --sql`` writes a script that builds the schema when run."""
    sql = _offline(empty_url, "8cf9148b9ad9")
    assert "CREATE TABLE groups" in sql
    assert "CREATE TABLE import_files" in sql
    assert "ON DELETE CASCADE" in sql
    assert "UPDATE alembic_version SET version_num='8cf9148b9ad9'" in sql
    engine = make_engine(empty_url)
    assert _tables(engine) == set()

    if engine.dialect.name == "sqlite":
        assert "ix_runs_summary" not in sql
        database = sqlite3.connect(str(engine.url.database))
        try:
            database.executescript(sql)
        finally:
            database.close()
    else:
        assert "CREATE INDEX IF NOT EXISTS ix_runs_summary ON runs USING gin (summary)" in sql
        # The script has its own BEGIN and COMMIT; the driver must not parse it.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            cursor = connection.connection.cursor()
            try:
                cursor.execute(sql)
            finally:
                cursor.close()
    assert _version(engine) == "8cf9148b9ad9"
    assert "meta" not in _tables(engine)
    fk = sa.inspect(engine).get_foreign_keys("import_files")
    assert [key["options"].get("ondelete") for key in fk] == ["CASCADE"]


def test_offline_head_refused(empty_url: str) -> None:
    """``upgrade head --sql`` stops at the data migration and says what to run instead."""
    with pytest.raises(CommandError) as failure:
        _offline(empty_url, "head")
    message = str(failure.value)
    assert "e5736dbcc0b0" in message
    assert "alembic upgrade 8cf9148b9ad9 --sql" in message


def test_offline_pass_percent(empty_url: str) -> None:
    """d18de2b3253f refuses offline mode on PostgreSQL and is empty on SQLite."""
    if empty_url.startswith("sqlite"):
        sql = _offline(empty_url, "e5736dbcc0b0:head")
        assert "UPDATE alembic_version SET version_num='d18de2b3253f'" in sql
        assert "pass_percent" not in sql
        return
    with pytest.raises(CommandError) as failure:
        _offline(empty_url, "e5736dbcc0b0:head")
    assert "d18de2b3253f" in str(failure.value)
    assert "alembic upgrade head" in str(failure.value)
