"""Initial baseline schema

Builds every Ibutsu table as the last pre-Alembic release left them, plus the
``meta`` table that release used for its own version number. A database built
by that release is stamped at this revision instead of running it.

Revision ID: cacecc4f1237
Revises:
Create Date: 2025-12-10 00:00:00.000000

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ibutsu_server.db.types import PortableJSON, PortableUUID

# revision identifiers, used by Alembic.
revision = "cacecc4f1237"
down_revision = None
branch_labels = None
depends_on = None
backward_compatible = False

TABLES = (
    "groups",
    "users",
    "projects",
    "dashboards",
    "widget_configs",
    "imports",
    "import_files",
    "runs",
    "results",
    "artifacts",
    "tokens",
    "users_projects",
    "meta",
)


def _id() -> sa.Column[str]:
    return sa.Column("id", PortableUUID(), primary_key=True, nullable=False)


def _ref(column: str, target: str, name: str | None = None) -> sa.Column[str]:
    return sa.Column(column, PortableUUID(), sa.ForeignKey(target, name=name), nullable=True)


def _indexes(table: str, *columns: str, unique: bool = False) -> None:
    for column in columns:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=unique)


def upgrade() -> None:
    # On SQLite, which cannot add a constraint to an existing table, the
    # projects -> dashboards reference is declared inline; SQLite accepts a
    # reference to a table that does not exist yet.
    postgresql = op.get_context().dialect.name == "postgresql"

    op.create_table(
        "groups",
        _id(),
        sa.Column("name", sa.Text()),
        sa.Column("data", PortableJSON()),
    )
    _indexes("groups", "name")

    op.create_table(
        "users",
        _id(),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("_password", sa.Text()),
        sa.Column("name", sa.Text()),
        sa.Column("activation_code", sa.Text()),
        sa.Column("is_superadmin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _ref("group_id", "groups.id"),
    )
    _indexes("users", "email", unique=True)
    _indexes("users", "group_id")

    default_dashboard = (
        sa.Column("default_dashboard_id", PortableUUID())
        if postgresql
        else _ref("default_dashboard_id", "dashboards.id", name="fk_project_default_dashboard")
    )
    op.create_table(
        "projects",
        _id(),
        sa.Column("name", sa.Text()),
        sa.Column("title", sa.Text()),
        _ref("owner_id", "users.id"),
        _ref("group_id", "groups.id"),
        default_dashboard,
    )
    _indexes("projects", "name", "title", "owner_id", "group_id")

    op.create_table(
        "dashboards",
        _id(),
        sa.Column("title", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("filters", sa.Text()),
        _ref("project_id", "projects.id", name="fk_dashboards_project_id"),
        _ref("user_id", "users.id"),
    )
    _indexes("dashboards", "title", "project_id", "user_id")
    if postgresql:
        op.create_foreign_key(
            "fk_project_default_dashboard",
            "projects",
            "dashboards",
            ["default_dashboard_id"],
            ["id"],
        )

    op.create_table(
        "widget_configs",
        _id(),
        _ref("project_id", "projects.id"),
        _ref("dashboard_id", "dashboards.id"),
        sa.Column("title", sa.Text()),
        sa.Column("type", sa.Text()),
        sa.Column("widget", sa.Text()),
        sa.Column("weight", sa.Integer()),
        sa.Column("params", PortableJSON()),
        sa.Column("navigable", sa.Boolean()),
    )
    _indexes(
        "widget_configs", "project_id", "dashboard_id", "title", "type", "widget", "weight",
        "navigable",
    )

    op.create_table(
        "imports",
        _id(),
        sa.Column("filename", sa.Text()),
        sa.Column("format", sa.Text()),
        sa.Column("data", PortableJSON()),
        sa.Column("status", sa.Text()),
        sa.Column("created", sa.DateTime(), nullable=True),
    )
    _indexes("imports", "filename", "format", "status", "created")

    op.create_table(
        "import_files",
        _id(),
        sa.Column("import_id", PortableUUID(), sa.ForeignKey("imports.id"), nullable=False),
        sa.Column("content", sa.LargeBinary()),
    )
    _indexes("import_files", "import_id")

    op.create_table(
        "runs",
        _id(),
        _ref("project_id", "projects.id"),
        sa.Column("data", PortableJSON()),
        sa.Column("summary", PortableJSON()),
        sa.Column("env", sa.Text()),
        sa.Column("component", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("duration", sa.Float()),
    )
    _indexes(
        "runs", "project_id", "env", "component", "source", "start_time", "created", "duration"
    )

    op.create_table(
        "results",
        _id(),
        _ref("project_id", "projects.id"),
        _ref("run_id", "runs.id"),
        sa.Column("test_id", sa.Text()),
        sa.Column("result", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("env", sa.Text()),
        sa.Column("component", sa.Text()),
        sa.Column("data", PortableJSON()),
        sa.Column("params", PortableJSON()),
        sa.Column("duration", sa.Float()),
        sa.Column("start_time", sa.DateTime(), nullable=False),
    )
    _indexes(
        "results", "project_id", "run_id", "test_id", "result", "source", "env", "component",
        "duration", "start_time",
    )

    op.create_table(
        "artifacts",
        _id(),
        sa.Column("content", sa.LargeBinary()),
        _ref("result_id", "results.id"),
        _ref("run_id", "runs.id"),
        sa.Column("filename", sa.Text()),
        sa.Column("data", PortableJSON()),
        sa.Column("upload_date", sa.DateTime(), nullable=False),
    )
    _indexes("artifacts", "result_id", "run_id", "filename", "upload_date")

    op.create_table(
        "tokens",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("expires", sa.DateTime()),
        _ref("user_id", "users.id"),
    )
    _indexes("tokens", "user_id")

    op.create_table(
        "users_projects",
        sa.Column("user_id", PortableUUID(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("project_id", PortableUUID(), sa.ForeignKey("projects.id"), primary_key=True),
    )

    op.create_table(
        "meta",
        sa.Column("key", sa.Text(), primary_key=True, nullable=False),
        sa.Column("value", sa.Text()),
    )
    _indexes("meta", "key")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint("fk_project_default_dashboard", "projects", type_="foreignkey")
    for table in reversed(TABLES):
        op.drop_table(table)
