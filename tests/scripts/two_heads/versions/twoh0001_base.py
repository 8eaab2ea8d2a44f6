"""The common ancestor of the two heads

Revision ID: twoh0001base
Revises:
Create Date: 2026-01-01 00:00:00.000000

"""
from __future__ import annotations

# revision identifiers, used by Alembic.
revision = "twoh0001base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
