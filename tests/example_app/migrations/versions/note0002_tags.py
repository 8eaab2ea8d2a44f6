"""Tags on notes."""

import sqlalchemy as sa
from alembic import op

revision = "note0002"
down_revision = "note0001"


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note_id", sa.Integer, sa.ForeignKey("notes.id"), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tags")
