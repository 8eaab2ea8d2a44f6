"""Create table two, log this revision, take a second

Revision ID: slow0002
Revises: slow0001
Create Date: 2026-01-01 00:00:01.000000

"""
from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "slow0002"
down_revision = "slow0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("two", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute(f"INSERT INTO applied_log (revision) VALUES ('{revision}')")
    time.sleep(1.0)


def downgrade() -> None:
    op.drop_table("two")
