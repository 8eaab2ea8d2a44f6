"""pytest-alembic's built-in checks, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from pytest_alembic.tests import (  # noqa: F401  (collected as tests here)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

import sqlite_transactions as sqlite_support


@pytest.fixture()
def alembic_engine(empty_url: str) -> Iterator[sa.Engine]:
    """The engine pytest-alembic migrates: a new empty database per test."""
    engine = sa.create_engine(empty_url, poolclass=sa.NullPool)
    sqlite_support.make_transactional(engine)
    try:
        yield engine
    finally:
        engine.dispose()
