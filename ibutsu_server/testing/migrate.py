"""Migrating a database to head, the way the app's guard does."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migration_guard.actions import Runner
from flask_migration_guard.scripts import Scripts

from ibutsu_server.config import with_installed_driver
from ibutsu_server.guard_names import GUARD_NAMES


def migrate_to_head(url: str, directory: str) -> None:
    """Run every migration of ``directory`` on the database at ``url``, under the lock."""
    engine = sa.create_engine(with_installed_driver(url), poolclass=sa.NullPool)
    try:
        Runner(engine, Scripts(directory), names=GUARD_NAMES).upgrade()
    finally:
        engine.dispose()
