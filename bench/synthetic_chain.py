"""Write synthetic Alembic script directories with N linear revisions.

The first revision creates three small tables; every later pair of revisions
adds a column to one of them and drops it again, so the schema at head stays
the same size however long the chain is. The chain runs on PostgreSQL and on
SQLite (batch mode).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

ENV_PY = '''\
"""A minimal env.py: migrate on the connection handed over by the caller."""

from alembic import context

from flask_migration_guard.alembic_env import run_on_given_connection

run_on_given_connection(context)
'''

TABLES = ("bench_a", "bench_b", "bench_c")


def revision_id(index: int) -> str:
    """The revision id of the ``index``-th revision (1-based), 12 hex digits."""
    return f"{index:012x}"


def _body(index: int) -> tuple[str, str]:
    if index == 1:
        creates = "\n".join(
            f"    op.create_table({table!r}, sa.Column('id', sa.Integer, primary_key=True),"
            " sa.Column('name', sa.Text), sa.Column('value', sa.Integer))"
            for table in TABLES
        )
        drops = "\n".join(f"    op.drop_table({table!r})" for table in reversed(TABLES))
        return creates, drops
    table = TABLES[(index // 2) % len(TABLES)]
    column = f"extra_{index // 2}"
    add = (
        f"    with op.batch_alter_table({table!r}) as batch:\n"
        f"        batch.add_column(sa.Column({column!r}, sa.Integer))"
    )
    drop = (
        f"    with op.batch_alter_table({table!r}) as batch:\n"
        f"        batch.drop_column({column!r})"
    )
    return (add, drop) if index % 2 == 0 else (drop, add)


def _revision_file(index: int) -> str:
    upgrade, downgrade = _body(index)
    parent = repr(revision_id(index - 1)) if index > 1 else "None"
    return textwrap.dedent(
        f'''\
        """synthetic revision {index}"""
        import sqlalchemy as sa
        from alembic import op

        revision = {revision_id(index)!r}
        down_revision = {parent}
        branch_labels = None
        depends_on = None


        def upgrade():
        {{upgrade}}


        def downgrade():
        {{downgrade}}
        '''
    ).format(upgrade=upgrade, downgrade=downgrade)


def write_chain(directory: Path, revisions: int) -> Path:
    """Write a script directory with ``revisions`` linear revisions; return it."""
    versions = directory / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (directory / "env.py").write_text(ENV_PY)
    (directory / "script.py.mako").write_text('"""${message}"""\n')
    for index in range(1, revisions + 1):
        (versions / f"{revision_id(index)}_synthetic.py").write_text(_revision_file(index))
    return directory
