"""Migrating a database to head, the way the app's guard does."""

from __future__ import annotations

import sqlalchemy as sa

from ibutsu_server.guard import Runner, Scripts


def migrate_to_head(url: str, directory: str) -> None:
    """Run every migration of ``directory`` on the database at ``url``, under the lock."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        Runner(engine, Scripts(directory)).upgrade()
    finally:
        engine.dispose()
