"""The rules Alembic's model comparison follows for this schema.

``alembic check``, ``alembic revision --autogenerate`` and pytest-alembic's
model test compare the models with a migrated database. They must report
nothing at head, so that a report always means a real difference. The
comparison checks column types and server defaults, and ignores exactly one
kind of object:

- the PostgreSQL-only indexes listed in :data:`MIGRATION_ONLY_INDEXES`. They use
  JSONB operators, GIN or descending keys, which SQLite cannot build, so they
  are defined in the migrations only (revisions ``fc3df1d9ee4e`` and
  ``d18de2b3253f``) and never in the models. They are ignored only when they
  come from the database and have no model counterpart; an index of that name
  declared in a model is compared as usual.
"""

from __future__ import annotations

from typing import Any

TYPES_MODULE = "ibutsu_server.db.types"

MIGRATION_ONLY_INDEXES = frozenset(
    {
        "ix_results_assignee",
        "ix_results_classification",
        "ix_results_component_env_project",
        "ix_results_component_start_time_result_project_id",
        "ix_results_exception_name",
        "ix_results_jenkins_build_number",
        "ix_results_jenkins_job_name",
        "ix_results_requirements",
        "ix_results_result_satver_project_id_run_id_snapver",
        "ix_results_tags",
        "ix_runs_jenkins_build_number",
        "ix_runs_jenkins_job_name",
        "ix_runs_jjn_jbn",
        "ix_runs_pass_percent",
        "ix_runs_summary",
        "ix_runs_tags",
    }
)
"""Indexes that exist on PostgreSQL at head but in no model."""


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's ``include_object`` hook: skip the migration-only indexes."""
    if type_ == "index" and reflected and compare_to is None:
        return name not in MIGRATION_ONLY_INDEXES
    return True


def render_item(type_: str, obj: Any, autogen_context: Any) -> bool:
    """Alembic's ``render_item`` hook: a revision that uses one of Ibutsu's column types
    imports their module; one that does not, imports nothing unused. Rendering itself
    is Alembic's (``False``)."""
    if type_ == "type" and type(obj).__module__ == TYPES_MODULE:
        autogen_context.imports.add(f"import {TYPES_MODULE}")
    return False


COMPARE_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "compare_server_default": True,
    "include_object": include_object,
    "render_as_batch": True,
    "render_item": render_item,
}
"""Keyword arguments for ``EnvironmentContext.configure``, shared by every comparison."""
