"""Enforce imports.created NOT NULL and add a server default

Rows without a creation time get the current time, then the column becomes
NOT NULL with ``now()`` as its server default. SQLite rebuilds the table
(batch mode) from the definition below, which also makes ``--sql`` work there.

Revision ID: 53994db980f1
Revises: fc3df1d9ee4e
Create Date: 2025-12-15 00:00:00.000000

"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

from ibutsu_server.db.types import PortableJSON, PortableUUID

# revision identifiers, used by Alembic.
revision = "53994db980f1"
down_revision = "fc3df1d9ee4e"
branch_labels = None
depends_on = None
backward_compatible = False


def _imports_table(
    created_nullable: bool, created_default: sa.ColumnElement[datetime] | None
) -> sa.Table:
    """The imports table as it stands on one side of this revision."""
    table = sa.Table(
        "imports",
        sa.MetaData(),
        sa.Column("id", PortableUUID(), primary_key=True, nullable=False),
        sa.Column("filename", sa.Text()),
        sa.Column("format", sa.Text()),
        sa.Column("data", PortableJSON()),
        sa.Column("status", sa.Text()),
        sa.Column(
            "created", sa.DateTime(), nullable=created_nullable, server_default=created_default
        ),
    )
    for column in ("filename", "format", "status", "created"):
        sa.Index(f"ix_imports_{column}", table.c[column])
    return table


def upgrade() -> None:
    imports = sa.table("imports", sa.column("created", sa.DateTime()))
    op.execute(
        imports.update().where(imports.c.created.is_(None)).values(created=sa.func.now())
    )
    with op.batch_alter_table("imports", copy_from=_imports_table(True, None)) as batch:
        batch.alter_column(
            "created",
            existing_type=sa.DateTime(),
            nullable=False,
            server_default=sa.func.now(),
        )


def downgrade() -> None:
    with op.batch_alter_table(
        "imports", copy_from=_imports_table(False, sa.func.now())
    ) as batch:
        batch.alter_column(
            "created",
            existing_type=sa.DateTime(),
            nullable=True,
            server_default=None,
        )
