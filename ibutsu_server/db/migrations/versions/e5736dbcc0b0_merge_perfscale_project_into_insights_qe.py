"""Merge the hcc-perfscale-cpt project into insights-qe

A one-time data move from Ibutsu's production: runs, results, dashboards and
widget configurations of the source project move to the target project, and
its users become users of the target too. The source project row and its links
stay (artifacts may still point at it). On PostgreSQL, the moved runs and
results also get ``{"project": "insights-qe"}`` merged into their data.

- No source project: nothing to do.
- Source but no target project: the revision fails and nothing changes.
- Everything runs in this revision's transaction, with the version bump.
- Offline (``--sql``) mode is refused: what to do depends on the data.
- The downgrade changes nothing: restore from a backup to undo it.

Revision ID: e5736dbcc0b0
Revises: 8cf9148b9ad9
Create Date: 2026-04-14 00:00:00.000000

"""
from __future__ import annotations

import json
import logging

import sqlalchemy as sa
from alembic import context, op
from alembic.util import CommandError

# revision identifiers, used by Alembic.
revision = "e5736dbcc0b0"
down_revision = "8cf9148b9ad9"
branch_labels = None
depends_on = None
backward_compatible = False

log = logging.getLogger(f"alembic.runtime.migration.{revision}")

SOURCE_PROJECT_ID = "c6fd19a7-858a-4226-8c27-d8fa7ddf6d0c"
TARGET_PROJECT_ID = "3915c900-85fc-1222-833c-10d51af56f2e"
TARGET_PROJECT_NAME = "insights-qe"
MOVED_TABLES = ("runs", "results", "dashboards", "widget_configs")
TAGGED_TABLES = ("runs", "results")


def _project_exists(bind: sa.engine.Connection, project_id: str) -> bool:
    found = bind.execute(sa.text("SELECT 1 FROM projects WHERE id = :id"), {"id": project_id})
    return found.first() is not None


def upgrade() -> None:
    if context.is_offline_mode():
        raise CommandError(
            f"Revision {revision} moves data and cannot be written as offline SQL."
            " Generate SQL up to its parent with 'alembic upgrade 8cf9148b9ad9 --sql',"
            f" then run this revision online with 'alembic upgrade {revision}'."
        )
    bind = op.get_bind()
    if not _project_exists(bind, SOURCE_PROJECT_ID):
        log.info("Project %s is absent: nothing to merge", SOURCE_PROJECT_ID)
        return
    if not _project_exists(bind, TARGET_PROJECT_ID):
        raise CommandError(
            f"Project {SOURCE_PROJECT_ID} must be merged into project {TARGET_PROJECT_ID},"
            " which does not exist. Create it or delete the source project, then upgrade again."
        )
    ids = {"source": SOURCE_PROJECT_ID, "target": TARGET_PROJECT_ID}
    postgresql = bind.dialect.name == "postgresql"
    for table in MOVED_TABLES:
        assignments = "project_id = :target"
        params = dict(ids)
        if postgresql and table in TAGGED_TABLES:
            assignments += ", data = COALESCE(data, CAST('{}' AS jsonb)) || CAST(:tag AS jsonb)"
            params["tag"] = json.dumps({"project": TARGET_PROJECT_NAME})
        moved = bind.execute(
            sa.text(f"UPDATE {table} SET {assignments} WHERE project_id = :source"), params
        )
        log.info("Moved %d rows of %s", moved.rowcount, table)
    bind.execute(
        sa.text(
            "INSERT INTO users_projects (user_id, project_id)"
            " SELECT user_id, :target FROM users_projects WHERE project_id = :source"
            " AND user_id NOT IN"
            " (SELECT user_id FROM users_projects WHERE project_id = :target)"
        ),
        ids,
    )


def downgrade() -> None:
    # The merge cannot be undone from the data alone: restore from a backup.
    pass
