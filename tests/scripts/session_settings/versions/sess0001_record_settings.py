"""Record the migrating session's settings in table session_settings

Revision ID: sess0001
Revises:
Create Date: 2026-01-01 00:00:00.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sess0001"
down_revision = None
branch_labels = None
depends_on = None

SETTINGS = (
    "idle_in_transaction_session_timeout",
    "client_connection_check_interval",
    "tcp_keepalives_idle",
    "tcp_keepalives_interval",
    "tcp_keepalives_count",
    "lock_timeout",
)


def upgrade() -> None:
    op.create_table(
        "session_settings",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text()),
    )
    for name in SETTINGS:
        op.execute(
            f"INSERT INTO session_settings VALUES ('{name}', current_setting('{name}'))"
        )


def downgrade() -> None:
    op.drop_table("session_settings")
