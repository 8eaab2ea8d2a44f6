"""Sixteen processes booting at once in upgrade mode, round after round, on PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from boot_pool import BootPool
from legacy_databases import LegacySample, build_legacy_database, insert_sample_rows

from ibutsu_server import MIGRATIONS_DIR
from flask_migration_guard.scripts import Scripts
from ibutsu_server.testing import postgres

PROCESSES = 16
ROUNDS = 20
CHAIN = Scripts(MIGRATIONS_DIR).pending(())


@pytest.fixture(scope="module")
def pool() -> Iterator[BootPool]:
    """Sixteen boot workers, started once for all rounds."""
    with BootPool(PROCESSES) as workers:
        yield workers


def _round(pool: BootPool, server: str, prepare: str) -> tuple[list[dict[str, object]], str]:
    name = postgres.unique_name()
    url = postgres.create_database(server, name)
    if prepare == "legacy":
        build_legacy_database(url)
        insert_sample_rows(url)
    reports = pool.boot_all(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "IBUTSU_DB_MIGRATE": "upgrade",
            "IBUTSU_DB_LOCK_TIMEOUT": 60,
        }
    )
    return reports, url


def _check_database(url: str, legacy: bool) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert [row[0] for row in versions] == [CHAIN[-1]]
            if legacy:
                sample = LegacySample()
                name = connection.execute(
                    sa.text("SELECT name FROM projects WHERE id = :id"), {"id": sample.project_id}
                ).scalar()
                assert name == sample.project_name
                counts = [
                    connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                    for table in ("users", "projects", "runs", "results", "imports", "import_files")
                ]
                assert counts == [1, 1, 1, 1, 1, 1]
    finally:
        engine.dispose()


@pytest.mark.parametrize("prepare", ["empty", "legacy"])
def test_sixteen_processes_boot_at_once_every_round(
    pool: BootPool, postgres_server_url: str, prepare: str
) -> None:
    """Every process comes up and every revision is applied exactly once, in every round."""
    for round_number in range(ROUNDS):
        reports, url = _round(pool, postgres_server_url, prepare)
        try:
            failures = [r["error"] for r in reports if not r["ok"]]
            assert failures == [], f"round {round_number}: {failures}"
            steps = Counter(
                (verb, revision)
                for report in reports
                for verb, revision in report["steps"]  # type: ignore[attr-defined]
            )
            expected = Counter(("Applied", revision) for revision in CHAIN)
            if prepare == "legacy":
                expected = Counter(("Applied", revision) for revision in CHAIN[1:])
                expected[("Stamped", CHAIN[0])] = 1
            assert steps == expected, f"round {round_number}"
            migrating = [r for r in reports if r["steps"]]
            assert len(migrating) == 1, "one process migrates, the others find the work done"
            _check_database(url, legacy=prepare == "legacy")
        finally:
            postgres.drop_database(postgres_server_url, url.rsplit("/", 1)[1])
