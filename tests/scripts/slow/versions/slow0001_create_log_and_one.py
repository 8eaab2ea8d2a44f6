"""Create applied_log and table one, log this revision, take a second

Revision ID: slow0001
Revises:
Create Date: 2026-01-01 00:00:00.000000

"""
from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "slow0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("applied_log", sa.Column("revision", sa.String(32), nullable=False))
    op.create_table("one", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute(f"INSERT INTO applied_log (revision) VALUES ('{revision}')")
    time.sleep(1.0)


def downgrade() -> None:
    op.drop_table("one")
    op.drop_table("applied_log")
