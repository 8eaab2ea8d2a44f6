"""The lock and the migration share one PostgreSQL session, so they end together.

An idle timeout that ends idle sessions (idle_session_timeout, a NAT's or a
load balancer's) cannot take the lock away from a migration that goes on on
another session; a holder whose session is ended stops, and leaves the last
good revision.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from guard_databases import execute
from guard_processes import (
    Processes,
    advisory_lock_held,
    advisory_lock_holders,
    boot_config,
    query,
    throwaway_server,
    wait_until,
)
from test_guard_concurrency import applied, chain

REVISIONS = chain("slow")
BOOTS = 4


def _database(url: str) -> str:
    name = sa.make_url(url).database
    assert name
    return name


def test_idle_session_timeout_does_not_free_the_lock(
    postgres_url: str, processes: Processes, tmp_path: Path
) -> None:
    """With idle sessions ended after 1 s, four boots at once still apply each revision once."""
    database = _database(postgres_url)
    execute(postgres_url, f'ALTER DATABASE "{database}" SET idle_session_timeout = 1000')
    start = tmp_path / "start"
    config = boot_config(postgres_url, "slow", IBUTSU_DB_LOCK_TIMEOUT=60)
    boots = [processes.boot(config, f"boot{number}", start) for number in range(BOOTS)]
    for process in boots:
        process.wait_for("READY")
    start.touch()
    for process in boots:
        process.wait()
    everything = "\n".join(process.describe() for process in boots)
    assert [process.result().get("state") for process in boots] == ["at_head"] * BOOTS, everything
    rows = query(postgres_url, "SELECT revision, count(*) FROM applied_log GROUP BY revision")
    assert sorted(rows) == [(revision, 1) for revision in sorted(REVISIONS)], everything
    assert len([process for process in boots if applied(process)]) == 1, everything


def test_a_holder_whose_session_ends_stops_at_the_last_good_revision(
    postgres_url: str, processes: Processes
) -> None:
    """The holder's session is ended during its second revision: that revision is rolled
    back, the boot fails with a guard error, and the next boot finishes the chain."""
    config = boot_config(postgres_url, "slow", IBUTSU_DB_LOCK_TIMEOUT=60)
    holder = processes.boot(config, "holder")
    holder.wait_for("Applied slow0001", in_log=True)
    [pid] = advisory_lock_holders(postgres_url)
    query(postgres_url, "SELECT pg_terminate_backend(:pid)", pid=pid)
    assert holder.wait() == 1, holder.describe()
    result = holder.result()
    assert result["error"] == "MigrationFailedError", holder.describe()
    assert "The database stays at 'slow0001'" in result["message"], holder.describe()
    assert "Traceback" not in holder.log
    assert query(postgres_url, "SELECT version_num FROM alembic_version") == [("slow0001",)]
    wait_until(lambda: not advisory_lock_held(postgres_url), "the lock to be free")

    again = processes.boot(config, "again")
    assert again.wait() == 0, again.describe()
    assert again.result()["state"] == "at_head"
    rows = query(postgres_url, "SELECT revision, count(*) FROM applied_log GROUP BY revision")
    assert sorted(rows) == [(revision, 1) for revision in sorted(REVISIONS)]


def test_a_server_stopped_mid_migration_keeps_the_first_error(
    processes: Processes,
) -> None:
    """The server stops during the second revision: the boot fails with a guard error that
    keeps the revision's own error, says the database could not be read afterwards, and
    names the last revision done; once the server is back, the next boot finishes."""
    with throwaway_server() as server:
        config = boot_config(server.url, "slow", IBUTSU_DB_LOCK_TIMEOUT=60)
        holder = processes.boot(config, "holder")
        holder.wait_for("Applied slow0001", in_log=True)
        server.stop_server()
        assert holder.wait() == 1, holder.describe()
        message = holder.result()["message"]
        assert message.startswith("Revision 'slow0002' failed with"), holder.describe()
        assert "could not be read afterwards" in message, holder.describe()
        assert "The database stays at 'slow0001'" in message, holder.describe()
        assert "Traceback" not in holder.log
        server.start()
        again = processes.boot(config, "again")
        assert again.wait() == 0, again.describe()
        assert query(server.url, "SELECT version_num FROM alembic_version") == [("slow0002",)]


@pytest.fixture(autouse=True)
def _postgresql_only(postgres_url: str) -> None:
    """Every test here needs PostgreSQL (``postgres_url``)."""
