"""Remove the unused meta table and add the production indexes

The ``meta`` table held the pre-Alembic version number and is dropped when it
exists. On PostgreSQL, fifteen indexes on ``results`` and ``runs`` that use
JSONB operators, GIN or descending keys are created when missing: production
databases already had some of them. Other databases get no such index.

Every statement is idempotent and needs no look-up, so the revision also runs
in offline (``--sql``) mode.

Revision ID: fc3df1d9ee4e
Revises: cacecc4f1237
Create Date: 2025-12-10 20:35:28.432171

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "fc3df1d9ee4e"
down_revision = "cacecc4f1237"
branch_labels = None
depends_on = None
backward_compatible = False

JENKINS_BUILD = "((data -> 'jenkins') ->> 'build_number')"
JENKINS_JOB = "((data -> 'jenkins') ->> 'job_name')"

# name -> (table, access method, key list)
POSTGRESQL_INDEXES = {
    "ix_results_assignee": ("results", "btree", "(data ->> 'assignee')"),
    "ix_results_classification": ("results", "btree", "(data ->> 'classification')"),
    "ix_results_component_env_project": (
        "results", "btree", "component, env, project_id, start_time DESC"
    ),
    "ix_results_component_start_time_result_project_id": (
        "results", "btree", "component, start_time, result, project_id"
    ),
    "ix_results_exception_name": ("results", "btree", "(data ->> 'exception_name')"),
    "ix_results_jenkins_build_number": ("results", "btree", JENKINS_BUILD),
    "ix_results_jenkins_job_name": ("results", "btree", JENKINS_JOB),
    "ix_results_requirements": ("results", "gin", "(data -> 'requirements')"),
    "ix_results_result_satver_project_id_run_id_snapver": (
        "results",
        "btree",
        "result, (data ->> 'SatelliteVersion'), project_id, run_id, (data ->> 'SnapVersion')",
    ),
    "ix_results_tags": ("results", "gin", "(data -> 'tags')"),
    "ix_runs_jenkins_build_number": ("runs", "btree", JENKINS_BUILD),
    "ix_runs_jenkins_job_name": ("runs", "btree", JENKINS_JOB),
    "ix_runs_jjn_jbn": ("runs", "btree", f"{JENKINS_JOB}, {JENKINS_BUILD}"),
    "ix_runs_summary": ("runs", "gin", "summary"),
    "ix_runs_tags": ("runs", "gin", "(data -> 'tags')"),
}


def _on_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_meta_key")
    op.execute("DROP TABLE IF EXISTS meta")
    if not _on_postgresql():
        return
    for name, (table, method, keys) in POSTGRESQL_INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING {method} ({keys})")


def downgrade() -> None:
    if _on_postgresql():
        for name in reversed(list(POSTGRESQL_INDEXES)):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.create_table(
        "meta",
        sa.Column("key", sa.Text(), primary_key=True, nullable=False),
        sa.Column("value", sa.Text()),
    )
    op.create_index(op.f("ix_meta_key"), "meta", ["key"], unique=False)
