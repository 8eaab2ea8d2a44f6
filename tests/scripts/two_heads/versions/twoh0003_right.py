"""Another branch off the base, never merged with the first

Revision ID: twoh0003right
Revises: twoh0001base
Create Date: 2026-01-03 00:00:00.000000

"""
from __future__ import annotations

# revision identifiers, used by Alembic.
revision = "twoh0003right"
down_revision = "twoh0001base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
