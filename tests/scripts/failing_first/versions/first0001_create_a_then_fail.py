"""Create table a, insert a row, then fail: the very first revision fails

Revision ID: first0001
Revises:
Create Date: 2026-01-01 00:00:00.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "first0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("a", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("INSERT INTO a (id) VALUES (1)")
    raise RuntimeError("boom in revision 1")


def downgrade() -> None:
    op.drop_table("a")
