"""pytest-alembic's built-in checks, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import sqlite_transactions as sqlite_support
from alembic.config import Config
from guard_databases import HEAD
from pytest_alembic.config import Config as PytestAlembicConfig
from pytest_alembic.tests import (  # noqa: F401  (collected as tests here)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import (  # noqa: F401  (collected as tests here)
    test_all_models_register_on_metadata,
    test_downgrade_leaves_no_trace,
)

# Warnings of the comparison itself, not of the migrations, which it still compares:
# - reflected tables are sorted, and projects and dashboards point at each other
#   (default_dashboard_id, project_id), so SQLAlchemy cannot sort them;
# - on SQLite the baseline's import_files foreign key has no name, and a diff that drops
#   it renders a directive Alembic could not run (the check compares diffs, never runs them).
test_downgrade_leaves_no_trace = pytest.mark.filterwarnings(
    "ignore:Cannot correctly sort tables:sqlalchemy.exc.SAWarning"
)(
    pytest.mark.filterwarnings(
        "ignore:Autogenerate rendered a drop_constraint:UserWarning"
    )(test_downgrade_leaves_no_trace)
)


@pytest.fixture()
def alembic_config(alembic_config: Config, request: pytest.FixtureRequest) -> PytestAlembicConfig:
    """The repository's Alembic config, as pytest-alembic takes it.

    ``downgrade_leaves_no_trace`` runs each revision inside a transaction it holds, and
    d18de2b3253f builds its index CONCURRENTLY, which no transaction may contain: that
    test records the revision instead of running it (pytest-alembic's ``skip_revisions``).
    """
    holds_a_transaction = request.node.originalname == "test_downgrade_leaves_no_trace"
    return PytestAlembicConfig(
        alembic_config=alembic_config,
        skip_revisions=[HEAD] if holds_a_transaction else None,
    )


@pytest.fixture()
def alembic_engine(empty_url: str) -> Iterator[sa.Engine]:
    """The engine pytest-alembic migrates: a new empty database per test."""
    engine = sa.create_engine(empty_url, poolclass=sa.NullPool)
    sqlite_support.make_transactional(engine)
    try:
        yield engine
    finally:
        engine.dispose()
