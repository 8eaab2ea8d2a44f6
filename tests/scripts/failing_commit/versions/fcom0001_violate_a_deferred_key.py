"""Create two tables and a row breaking a deferred foreign key: the commit fails

Revision ID: fcom0001
Revises:
Create Date: 2026-01-01 00:00:00.000000

"""
from __future__ import annotations

from alembic import op

revision = "fcom0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The key is checked at COMMIT, after every statement of the revision has run.
    op.execute("CREATE TABLE parent (id integer PRIMARY KEY)")
    op.execute(
        "CREATE TABLE child (parent_id integer REFERENCES parent (id)"
        " DEFERRABLE INITIALLY DEFERRED)"
    )
    op.execute("INSERT INTO child (parent_id) VALUES (1)")


def downgrade() -> None:
    op.execute("DROP TABLE child")
    op.execute("DROP TABLE parent")
