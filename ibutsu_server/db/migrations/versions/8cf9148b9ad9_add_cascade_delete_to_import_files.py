"""Add ON DELETE CASCADE to import_files.import_id

Deleting an import now deletes its files. The existing foreign key is found by
its columns, not by name, because databases built before Alembic and those
built by the baseline name it differently. On PostgreSQL in offline mode the
look-up runs inside the emitted SQL; SQLite rebuilds the table (batch mode).

Revision ID: 8cf9148b9ad9
Revises: 53994db980f1
Create Date: 2026-01-20 00:00:00.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from ibutsu_server.db.types import PortableUUID

# revision identifiers, used by Alembic.
revision = "8cf9148b9ad9"
down_revision = "53994db980f1"
branch_labels = None
depends_on = None
backward_compatible = False

FK_NAME = "import_files_import_id_fkey"

# Drops every foreign key of import_files(import_id) -> imports, whatever its name.
DROP_IMPORT_FK_SQL = """
DO $$
DECLARE constraint_name text;
BEGIN
    FOR constraint_name IN
        SELECT c.conname FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.contype = 'f'
          AND c.conrelid = 'import_files'::regclass
          AND c.confrelid = 'imports'::regclass
          AND array_length(c.conkey, 1) = 1
          AND a.attname = 'import_id'
    LOOP
        EXECUTE format('ALTER TABLE import_files DROP CONSTRAINT %I', constraint_name);
    END LOOP;
END $$
"""


def _import_files_table(ondelete: str | None, name: str | None = FK_NAME) -> sa.Table:
    """The import_files table as it stands on one side of this revision; ``name`` is its
    foreign key's."""
    table = sa.Table(
        "import_files",
        sa.MetaData(),
        sa.Column("id", PortableUUID(), primary_key=True, nullable=False),
        sa.Column("import_id", PortableUUID(), nullable=False),
        sa.Column("content", sa.LargeBinary()),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], name=name, ondelete=ondelete),
    )
    sa.Index("ix_import_files_import_id", table.c.import_id)
    sa.Table("imports", table.metadata, sa.Column("id", PortableUUID(), primary_key=True))
    return table


def _existing_fk_names() -> list[str]:
    inspector = sa.inspect(op.get_bind())
    return [
        fk["name"] or FK_NAME
        for fk in inspector.get_foreign_keys("import_files")
        if fk["referred_table"] == "imports" and fk["constrained_columns"] == ["import_id"]
    ]


def _replace_fk(ondelete: str | None, before: sa.Table) -> None:
    if op.get_context().dialect.name != "postgresql":
        with op.batch_alter_table("import_files", copy_from=before) as batch:
            batch.drop_constraint(FK_NAME, type_="foreignkey")
            batch.create_foreign_key(
                FK_NAME, "imports", ["import_id"], ["id"], ondelete=ondelete
            )
        return
    if context.is_offline_mode():
        op.execute(DROP_IMPORT_FK_SQL)
    else:
        for name in _existing_fk_names():
            op.drop_constraint(name, "import_files", type_="foreignkey")
    op.create_foreign_key(
        FK_NAME, "import_files", "imports", ["import_id"], ["id"], ondelete=ondelete
    )


def upgrade() -> None:
    _replace_fk("CASCADE", before=_import_files_table(None))


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        # Rebuilt as the baseline made it: on SQLite its foreign key has no name.
        with op.batch_alter_table(
            "import_files", copy_from=_import_files_table(None, name=None), recreate="always"
        ):
            pass
        return
    _replace_fk(None, before=_import_files_table("CASCADE"))
