"""Create table b

Revision ID: fcom0002
Revises: fcom0001
Create Date: 2026-01-01 00:00:00.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fcom0002"
down_revision = "fcom0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("b", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("b")
