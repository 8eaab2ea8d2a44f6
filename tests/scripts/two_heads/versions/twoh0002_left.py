"""One branch off the base

Revision ID: twoh0002left
Revises: twoh0001base
Create Date: 2026-01-02 00:00:00.000000

"""
from __future__ import annotations

# revision identifiers, used by Alembic.
revision = "twoh0002left"
down_revision = "twoh0001base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
