"""Create table b, insert a row, then fail

Revision ID: fail0002
Revises: fail0001
Create Date: 2026-01-01 00:00:01.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fail0002"
down_revision = "fail0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("b", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("INSERT INTO b (id) VALUES (1)")
    raise RuntimeError("boom in revision 2")


def downgrade() -> None:
    op.drop_table("b")
