"""Create table a

Revision ID: sleep0001
Revises:
Create Date: 2026-01-01 00:00:00.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sleep0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("a", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("a")
