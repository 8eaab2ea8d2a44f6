"""Create table c (never reached: revision 2 fails)

Revision ID: fail0003
Revises: fail0002
Create Date: 2026-01-01 00:00:02.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fail0003"
down_revision = "fail0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("c", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("c")
