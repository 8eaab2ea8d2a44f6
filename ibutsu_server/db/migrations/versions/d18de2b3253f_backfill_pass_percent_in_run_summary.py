"""Backfill pass_percent in run summaries and index it

PostgreSQL only; other databases skip this revision. Every run whose summary
has no ``pass_percent`` gets one, computed from the summary's counters, in
batches that each commit on their own; then ``ix_runs_pass_percent`` is built
with CREATE INDEX CONCURRENTLY. Both steps run outside the migration's
transaction (an autocommit block) with a lock timeout, so a blocked batch
or build fails fast instead of hanging, and a rerun picks up where it stopped.
The lock timeout is the session's own (the guard sets
``IBUTSU_DB_DDL_LOCK_TIMEOUT`` on its connection), or 30 s when the session
has none; afterwards the session gets back exactly the value it had.

An interrupted concurrent build leaves the index behind INVALID, and
``IF NOT EXISTS`` would keep it: a rerun first drops an invalid
``ix_runs_pass_percent`` (DROP INDEX CONCURRENTLY), then builds it again. If
the index is still not valid after the build (another session's build of it
failed meanwhile), the revision fails, so it is never recorded as applied
with an invalid index.

pass_percent, a whole number from 0 to 100:

- no ``tests`` counter, or zero tests: 0;
- with ``passes``: passes * 100 / tests, rounded down;
- otherwise: (tests - failures - errors - skips - xpasses - xfailures) * 100 / tests.

A counter counts only when its text is all digits. Offline (``--sql``) mode is
refused on PostgreSQL: the batches depend on the data. The downgrade drops the
index and keeps the backfilled values.

Revision ID: d18de2b3253f
Revises: e5736dbcc0b0
Create Date: 2026-07-21 00:00:00.000000

"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import context, op
from alembic.util import CommandError

# revision identifiers, used by Alembic.
revision = "d18de2b3253f"
down_revision = "e5736dbcc0b0"
branch_labels = None
depends_on = None
backward_compatible = True

log = logging.getLogger(f"alembic.runtime.migration.{revision}")

BATCH_SIZE = 5000
#: The lock timeout of the revision's statements when the session has none of its own.
LOCK_TIMEOUT = "30s"
INDEX_NAME = "ix_runs_pass_percent"


def _counter(key: str) -> str:
    return (
        f"CASE WHEN summary ->> '{key}' ~ '^[0-9]+$'"
        f" THEN (summary ->> '{key}')::numeric END AS {key}"
    )


SUBTRACTED = ("failures", "errors", "skips", "xpasses", "xfailures")
COUNTERS = ("tests", "passes") + SUBTRACTED
NOT_PASSED = " - ".join(f"COALESCE(b.{key}, 0)" for key in SUBTRACTED)

BACKFILL_BATCH_SQL = f"""
WITH b AS (
    SELECT id, {", ".join(_counter(key) for key in COUNTERS)}
    FROM runs
    WHERE summary IS NOT NULL
      AND jsonb_typeof(summary) = 'object'
      AND NOT (summary ? 'pass_percent')
    LIMIT {BATCH_SIZE}
)
UPDATE runs SET summary = jsonb_set(runs.summary, '{{pass_percent}}', to_jsonb(
    CASE
        WHEN COALESCE(b.tests, 0) = 0 THEN 0
        WHEN b.passes IS NOT NULL
            THEN GREATEST(0, LEAST(100, floor(b.passes * 100 / b.tests)))::int
        ELSE GREATEST(0, LEAST(100, floor((b.tests - {NOT_PASSED}) * 100 / b.tests)))::int
    END))
FROM b WHERE runs.id = b.id
"""

CREATE_INDEX_SQL = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX_NAME}"
    " ON runs (((summary ->> 'pass_percent')::int))"
)
DROP_INDEX_SQL = f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX_NAME}"

# True or false for the index's pg_index.indisvalid; no row when there is no such index.
INDEX_VALID_SQL = sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)")


def _require_online() -> None:
    if context.is_offline_mode():
        raise CommandError(
            f"Revision {revision} backfills data in batches on PostgreSQL and cannot be"
            " written as offline SQL. Run it online with 'alembic upgrade head'."
        )


def _index_valid(bind: sa.Connection) -> bool | None:
    """Whether ``ix_runs_pass_percent`` is valid; None when there is no such index."""
    valid: bool | None = bind.execute(INDEX_VALID_SQL, {"name": INDEX_NAME}).scalar()
    return valid


def _drop_invalid_index(bind: sa.Connection) -> None:
    """Drop what an interrupted build left: an index that ``IF NOT EXISTS`` would keep."""
    if _index_valid(bind) is False:
        log.warning("Dropping %s, left invalid by an interrupted build", INDEX_NAME)
        bind.exec_driver_sql(DROP_INDEX_SQL)


def _require_valid_index(bind: sa.Connection) -> None:
    """Fail, so that the revision is not recorded, unless the index is there and valid."""
    valid = _index_valid(bind)
    if valid is not True:
        found = "missing" if valid is None else "invalid (pg_index.indisvalid is false)"
        raise CommandError(
            f"Index {INDEX_NAME} is {found} after CREATE INDEX CONCURRENTLY (another"
            f" session's build of it may have failed), so revision {revision} is not"
            " recorded; run the upgrade again to drop the invalid index and build it again"
        )


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _require_online()
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        previous = bind.exec_driver_sql("SHOW lock_timeout").scalar()
        if previous == "0":
            bind.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        try:
            _drop_invalid_index(bind)
            total = 0
            while True:
                updated = bind.execute(sa.text(BACKFILL_BATCH_SQL)).rowcount
                total += updated
                if updated < BATCH_SIZE:
                    break
            log.info("Backfilled pass_percent in %d runs", total)
            bind.exec_driver_sql(CREATE_INDEX_SQL)
            _require_valid_index(bind)
        finally:
            if previous == "0":
                bind.execute(
                    sa.text("SELECT set_config('lock_timeout', :value, false)"),
                    {"value": previous},
                )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _require_online()
    with op.get_context().autocommit_block():
        op.get_bind().exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX_NAME}")
