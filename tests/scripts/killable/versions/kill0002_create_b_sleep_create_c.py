"""Create table b with one row, sleep 30 s, then create table c

The sleep leaves time to kill the migrating process in the middle of the
revision, its transaction open. Before sleeping, the revision writes its id
to the file named by IBUTSU_TEST_MARKER, if set, so a test knows it started.
IBUTSU_TEST_NO_SLEEP=1 skips the sleep.

Revision ID: kill0002
Revises: kill0001
Create Date: 2026-01-01 00:00:01.000000

"""
from __future__ import annotations

import os
import time

import sqlalchemy as sa
from alembic import op

revision = "kill0002"
down_revision = "kill0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("b", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("INSERT INTO b (id) VALUES (1)")
    marker = os.environ.get("IBUTSU_TEST_MARKER")
    if marker:
        with open(marker, "w") as file:
            file.write(revision)
    if os.environ.get("IBUTSU_TEST_NO_SLEEP") != "1":
        time.sleep(30)
    op.create_table("c", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("c")
    op.drop_table("b")
