"""Create items

Revision ID: rel0001
Revises:
Create Date: 2026-12-01 00:00:00.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "rel0001"
down_revision = None
branch_labels = None
depends_on = None
backward_compatible = False


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("items")
