"""Add a nullable note to items

Revision ID: rel0002
Revises: rel0001
Create Date: 2026-12-01 00:00:01.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "rel0002"
down_revision = "rel0001"
branch_labels = None
depends_on = None
backward_compatible = True


def upgrade() -> None:
    op.add_column("items", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("note")
