"""Create table b, then run a 60 s statement (PostgreSQL) or sleep 60 s (SQLite)

Before its long step the revision writes its id to the file named by
IBUTSU_TEST_MARKER, if set, so a test knows the step has begun; with
IBUTSU_TEST_NO_SLEEP=1 it skips the step.

Revision ID: sleep0002
Revises: sleep0001
Create Date: 2026-01-01 00:00:01.000000

"""
from __future__ import annotations

import os
import time

import sqlalchemy as sa
from alembic import op

revision = "sleep0002"
down_revision = "sleep0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("b", sa.Column("id", sa.Integer(), primary_key=True))
    marker = os.environ.get("IBUTSU_TEST_MARKER")
    if marker:
        with open(marker, "w") as file:
            file.write(revision)
    if os.environ.get("IBUTSU_TEST_NO_SLEEP") == "1":
        return
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT pg_sleep(60)")
    else:
        time.sleep(60)


def downgrade() -> None:
    op.drop_table("b")
