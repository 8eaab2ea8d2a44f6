"""Create one table and note each run in the file named by IBUTSU_COUNT_FILE."""

import os

import sqlalchemy as sa
from alembic import op

revision = "c0000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("counted", sa.Column("id", sa.Integer, primary_key=True))
    with open(os.environ["IBUTSU_COUNT_FILE"], "a") as log:
        log.write(f"{op.get_context().dialect.name}\n")


def downgrade() -> None:
    op.drop_table("counted")
