"""The model comparison at head: empty, exactly as ignored as it must be, and still watchful."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import Script
from conftest import Migrate

from ibutsu_server import MIGRATIONS_DIR, create_app
from ibutsu_server.db import db
from ibutsu_server.db.autogenerate import COMPARE_OPTIONS, MIGRATION_ONLY_INDEXES

MakeEngine = Callable[[str], sa.Engine]
WITHOUT_RULE = {key: value for key, value in COMPARE_OPTIONS.items() if key != "include_object"}


def _diff(engine: sa.Engine, options: dict[str, Any]) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={**options, "target_metadata": db.metadata}
        )
        return list(compare_metadata(context, db.metadata))


def _index_ops(diff: list[Any]) -> set[tuple[str, str]]:
    """The (operation, index name) pairs of a diff; fails on any other kind of item."""
    ops = set()
    for item in diff:
        assert isinstance(item, tuple) and item[0] in ("add_index", "remove_index"), item
        ops.add((item[0], item[1].name))
    assert len(ops) == len(diff)
    return ops


def test_no_difference_at_head(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """At head the models and the database agree, types and server defaults included."""
    migrate(empty_url, "upgrade", "head")
    assert COMPARE_OPTIONS["compare_type"] and COMPARE_OPTIONS["compare_server_default"]
    assert _diff(make_engine(empty_url), COMPARE_OPTIONS) == []


def test_rule_hides_exactly_the_migration_only_indexes(
    empty_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """Without the rule, PostgreSQL reports the 16 indexes as removals; SQLite reports nothing."""
    migrate(empty_url, "upgrade", "head")
    diff = _diff(make_engine(empty_url), WITHOUT_RULE)
    if empty_url.startswith("postgresql"):
        assert _index_ops(diff) == {("remove_index", name) for name in MIGRATION_ONLY_INDEXES}
        assert len(diff) == 16
    else:
        assert diff == []


def test_rule_keeps_real_drift(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """A dropped model index and an unknown extra index are both still reported."""
    migrate(empty_url, "upgrade", "head")
    engine = make_engine(empty_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_runs_env"))
        connection.execute(sa.text("CREATE INDEX ix_runs_hand_made ON runs (component, env)"))
    assert _index_ops(_diff(engine, COMPARE_OPTIONS)) == {
        ("add_index", "ix_runs_env"),
        ("remove_index", "ix_runs_hand_made"),
    }


def test_type_drift_reported_missing_migration_only_index_not(
    postgres_url: str, migrate: Migrate, make_engine: MakeEngine
) -> None:
    """A changed column type is reported; a missing migration-only index is not.

    The models do not know those indexes, so the comparison cannot notice one
    that is missing: only the migrations and test_migrations guard them.
    """
    migrate(postgres_url, "upgrade", "head")
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_runs_summary"))
        connection.execute(sa.text("ALTER TABLE runs ALTER COLUMN env TYPE varchar(20)"))
    diff = _diff(engine, COMPARE_OPTIONS)
    assert len(diff) == 1
    (change,) = diff[0]
    assert change[0] == "modify_type"
    assert (change[2], change[3]) == ("runs", "env")


def _autogenerate(url: str, tmp_path: Path) -> str:
    """Autogenerate a revision against the database at ``url`` into a copy of the
    migrations; the revision's text."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    config = Config()
    config.set_main_option("script_location", str(scripts))
    app = create_app({"SQLALCHEMY_DATABASE_URI": url}, guard=False)
    with app.app_context():
        try:
            written = command.revision(config, message="generated", autogenerate=True)
        finally:
            db.engine.dispose()
    assert isinstance(written, Script)
    return Path(written.path).read_text()


def test_an_empty_revision_imports_nothing_unused(
    empty_url: str, migrate: Migrate, tmp_path: Path
) -> None:
    """At head the generated revision does nothing, and imports no column types."""
    migrate(empty_url, "upgrade", "head")
    text = _autogenerate(empty_url, tmp_path)
    assert "import ibutsu_server" not in text
    assert "def upgrade() -> None:\n    # ### commands auto generated" in text


# The dropped column's foreign key has no name in the baseline, which Alembic warns of when
# it renders the downgrade; the import is what this test is about.
@pytest.mark.filterwarnings("ignore:Autogenerate rendered a drop_constraint:UserWarning")
def test_a_revision_using_ibutsu_types_imports_them(
    postgres_url: str, migrate: Migrate, tmp_path: Path
) -> None:
    """A UUID column to add back is rendered with Ibutsu's type, and its module imported."""
    migrate(postgres_url, "upgrade", "head")
    engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE artifacts DROP COLUMN result_id")
    finally:
        engine.dispose()
    text = _autogenerate(postgres_url, tmp_path)
    assert "\nimport ibutsu_server.db.types\n" in text
    assert "sa.Column('result_id', ibutsu_server.db.types.PortableUUID(" in text, text
    compile(text, "generated.py", "exec")
