"""Helpers for the tests that run the ibutsu_db plugin from the outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa


def builds(scripts: Path) -> list[str]:
    """The dialects the ``counted`` scripts were migrated on, one entry per build, sorted."""
    log = scripts.parent / "builds.log"
    return sorted(log.read_text().split()) if log.exists() else []


def server_rows(server_url: str, query: str, **params: Any) -> list[Any]:
    """The rows of ``query`` run on the server's admin database."""
    engine = sa.create_engine(server_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query), params))
    finally:
        engine.dispose()
