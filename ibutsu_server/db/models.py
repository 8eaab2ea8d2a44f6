"""The Ibutsu data model at the head revision, with the API Ibutsu Server's code uses.

Tables, columns, nullability, indexes and foreign keys match what the
migrations build, so that ``alembic check`` reports nothing. Two deliberate
differences from Ibutsu Server's own models keep that comparison clean:

- ``id`` is only a primary key, not also ``unique=True``: PostgreSQL folds the
  extra constraint into the primary key, so autogenerate would report it
  missing forever.
- ``imports.created`` declares its server default, which the migrations add.

The PostgreSQL-only indexes (expression, composite and GIN indexes on
``results`` and ``runs``) live only in the migrations; see
:mod:`ibutsu_server.db.autogenerate` for how the comparison ignores them.

Relationships add no schema. Deleting a parent row sets its children's
foreign key to NULL (runs, results, dashboards and widget configs of a
project; results of a run; artifacts of a result or run) and deletes its
``users_projects`` rows; an import's files go with it. Password hashes and
activation codes never appear in ``to_dict``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Table,
    Text,
    cast,
    delete,
    func,
    update,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy_json import mutable_json_type

from ibutsu_server.db.base import db
from ibutsu_server.db.mixins import FileMixin, ModelMixin, watch_uuid_writes
from ibutsu_server.db.passwords import hash_password, password_matches
from ibutsu_server.db.types import PortableJSON, PortableUUID

__all__ = [
    "Artifact",
    "Dashboard",
    "FileMixin",
    "Group",
    "Import",
    "ImportFile",
    "ModelMixin",
    "Project",
    "Result",
    "Run",
    "Token",
    "User",
    "WidgetConfig",
    "users_projects",
]

# JSON columns save changes made in place at any depth, and take dicts or lists.
JSONData = mutable_json_type(dbtype=PortableJSON, nested=True)


def _fk(target: str, **kwargs: Any) -> Any:
    return mapped_column(PortableUUID(), ForeignKey(target, **kwargs), index=True)


users_projects = Table(
    "users_projects",
    db.metadata,
    Column("user_id", PortableUUID(), ForeignKey("users.id"), primary_key=True),
    Column("project_id", PortableUUID(), ForeignKey("projects.id"), primary_key=True),
)


class Group(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """A group of users and projects."""

    __tablename__ = "groups"
    name: Mapped[str | None] = mapped_column(Text, index=True)
    data: Mapped[Any] = mapped_column(JSONData, nullable=True)

    projects: Mapped[list[Project]] = relationship()


class User(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """A person who logs in to Ibutsu.

    ``password`` reads the stored bcrypt hash and hashes what is assigned to
    it, in the constructor and in :meth:`update` too.
    """

    __tablename__ = "users"
    HIDDEN = frozenset({"_password", "activation_code"})

    email: Mapped[str] = mapped_column(Text, nullable=False, unique=True, index=True)
    _password: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    activation_code: Mapped[str | None] = mapped_column(Text)
    is_superadmin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    group_id: Mapped[str | None] = _fk("groups.id")

    dashboards: Mapped[list[Dashboard]] = relationship()
    owned_projects: Mapped[list[Project]] = relationship(back_populates="owner")
    tokens: Mapped[list[Token]] = relationship(back_populates="user")
    projects: Mapped[list[Project]] = relationship(
        secondary=users_projects, back_populates="users"
    )

    @hybrid_property
    def password(self) -> str | None:
        """The stored bcrypt hash; assigning plain text stores its hash."""
        return self._password

    @password.inplace.setter
    def _password_setter(self, value: str | None) -> None:
        self._password = hash_password(value)

    @password.inplace.expression
    @classmethod
    def _password_expression(cls) -> Any:
        return cls._password

    def check_password(self, plaintext: str | bytes) -> bool:
        """Whether ``plaintext`` is this user's password; ``False`` when none is stored."""
        return password_matches(self._password, plaintext)

    def to_dict(self, with_projects: bool = False) -> dict[str, Any]:
        """The user's columns (no password hash, no activation code), and its projects if asked."""
        record = super().to_dict()
        if with_projects:
            record["projects"] = [project.to_dict() for project in self.projects]
        return record

    def user_cleanup(self, new_owner: User, session: Session) -> None:
        """Hand what this user owns to ``new_owner`` before the user is deleted.

        Ends the user's project memberships, deletes its tokens, and gives its
        projects and dashboards to ``new_owner``. Nothing is committed.
        """
        self.projects.clear()
        session.execute(delete(Token).where(Token.user_id == self.id))
        session.execute(
            update(Project)
            .where(cast(Project.owner_id, Text) == cast(self.id, Text))
            .values(owner_id=new_owner.id)
        )
        session.execute(
            update(Dashboard).where(Dashboard.user_id == self.id).values(user_id=new_owner.id)
        )


class Dashboard(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """A page of widgets belonging to a project."""

    __tablename__ = "dashboards"
    title: Mapped[str | None] = mapped_column(Text, index=True)
    description: Mapped[str | None] = mapped_column(Text, default="")
    filters: Mapped[str | None] = mapped_column(Text, default="")
    project_id: Mapped[str | None] = _fk("projects.id", name="fk_dashboards_project_id")
    user_id: Mapped[str | None] = _fk("users.id")

    widgets: Mapped[list[WidgetConfig]] = relationship()
    project: Mapped[Project | None] = relationship(
        back_populates="dashboards", foreign_keys=[project_id]
    )


class Project(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """A project that runs and results belong to."""

    __tablename__ = "projects"
    name: Mapped[str | None] = mapped_column(Text, index=True)
    title: Mapped[str | None] = mapped_column(Text, index=True)
    owner_id: Mapped[str | None] = _fk("users.id")
    group_id: Mapped[str | None] = _fk("groups.id")
    default_dashboard_id: Mapped[str | None] = mapped_column(
        PortableUUID(),
        ForeignKey("dashboards.id", name="fk_project_default_dashboard", use_alter=True),
    )

    owner: Mapped[User | None] = relationship(back_populates="owned_projects")
    users: Mapped[list[User]] = relationship(
        secondary=users_projects, back_populates="projects", lazy="selectin"
    )
    results: Mapped[list[Result]] = relationship(back_populates="project")
    runs: Mapped[list[Run]] = relationship(back_populates="project")
    default_dashboard: Mapped[Dashboard | None] = relationship(
        foreign_keys=[default_dashboard_id], post_update=True
    )
    dashboards: Mapped[list[Dashboard]] = relationship(
        back_populates="project", foreign_keys="Dashboard.project_id"
    )
    widget_configs: Mapped[list[WidgetConfig]] = relationship(back_populates="project")

    def to_dict(self, with_owner: bool = False) -> dict[str, Any]:
        """The project's columns, its members, its default dashboard and, if asked, its owner."""
        record = super().to_dict()
        if with_owner and self.owner is not None:
            record["owner"] = self.owner.to_dict()
        if self.default_dashboard is not None:
            record["defaultDashboard"] = self.default_dashboard.to_dict()
        record["users"] = [user.to_dict() for user in self.users]
        return record

    def update(self, record: dict[str, Any]) -> None:
        """Set the columns ``record`` names; its ``users``, ``owner`` and ``defaultDashboard``
        (as :meth:`to_dict` gives them) are ignored."""
        ignored = {"users", "owner", "defaultDashboard"}
        super().update({key: value for key, value in record.items() if key not in ignored})


class WidgetConfig(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """A widget placed on a dashboard, with its parameters."""

    __tablename__ = "widget_configs"
    navigable: Mapped[bool | None] = mapped_column(Boolean, index=True)
    params: Mapped[Any] = mapped_column(JSONData, nullable=True)
    project_id: Mapped[str | None] = _fk("projects.id")
    dashboard_id: Mapped[str | None] = _fk("dashboards.id")
    title: Mapped[str | None] = mapped_column(Text, index=True)
    type: Mapped[str | None] = mapped_column(Text, index=True)
    weight: Mapped[int | None] = mapped_column(Integer, index=True)
    widget: Mapped[str | None] = mapped_column(Text, index=True)

    project: Mapped[Project | None] = relationship(back_populates="widget_configs")


class Import(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """An uploaded result archive waiting to be, or already, imported."""

    __tablename__ = "imports"
    filename: Mapped[str | None] = mapped_column(Text, index=True)
    format: Mapped[str | None] = mapped_column(Text, index=True)
    data: Mapped[Any] = mapped_column(JSONData, nullable=True)
    status: Mapped[str | None] = mapped_column(Text, index=True)
    created: Mapped[datetime] = mapped_column(
        DateTime, nullable=False, default=func.now(), server_default=func.now(), index=True
    )

    # A list, despite the name. The files are deleted with their import, also on
    # SQLite, where the foreign key's ON DELETE CASCADE is not enforced.
    file: Mapped[list[ImportFile]] = relationship(cascade="all, delete-orphan")


class ImportFile(db.Model, FileMixin):  # type: ignore[name-defined,misc]
    """The raw bytes of an import; deleted with it."""

    __tablename__ = "import_files"
    import_id: Mapped[str] = mapped_column(
        PortableUUID(), ForeignKey("imports.id", ondelete="CASCADE"), nullable=False, index=True
    )


class Run(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """A test run.

    PostgreSQL-only indexes, created by the migrations alone: ``ix_runs_jenkins_build_number``,
    ``ix_runs_jenkins_job_name``, ``ix_runs_jjn_jbn``, ``ix_runs_summary`` (GIN),
    ``ix_runs_tags`` (GIN) and ``ix_runs_pass_percent``.
    """

    __tablename__ = "runs"
    component: Mapped[str | None] = mapped_column(Text, index=True)
    created: Mapped[datetime] = mapped_column(
        DateTime, nullable=False, default=func.now(), index=True
    )
    data: Mapped[Any] = mapped_column(JSONData, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, index=True)
    env: Mapped[str | None] = mapped_column(Text, index=True)
    project_id: Mapped[str | None] = _fk("projects.id")
    source: Mapped[str | None] = mapped_column(Text, index=True)
    start_time: Mapped[datetime] = mapped_column(
        DateTime, nullable=False, default=func.now(), index=True
    )
    summary: Mapped[Any] = mapped_column(JSONData, nullable=True)

    project: Mapped[Project | None] = relationship(back_populates="runs")
    results: Mapped[list[Result]] = relationship()
    artifacts: Mapped[list[Artifact]] = relationship(back_populates="run")


class Result(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """One test's result within a run.

    PostgreSQL-only indexes, created by the migrations alone: five expression
    indexes on ``data`` keys, three composite indexes and two GIN indexes
    (``ix_results_requirements``, ``ix_results_tags``).
    """

    __tablename__ = "results"
    component: Mapped[str | None] = mapped_column(Text, index=True)
    data: Mapped[Any] = mapped_column(JSONData, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, index=True)
    env: Mapped[str | None] = mapped_column(Text, index=True)
    params: Mapped[Any] = mapped_column(JSONData, nullable=True)
    project_id: Mapped[str | None] = _fk("projects.id")
    result: Mapped[str | None] = mapped_column(Text, index=True)
    run_id: Mapped[str | None] = _fk("runs.id")
    source: Mapped[str | None] = mapped_column(Text, index=True)
    start_time: Mapped[datetime] = mapped_column(
        DateTime, nullable=False, default=func.now(), index=True
    )
    test_id: Mapped[str | None] = mapped_column(Text, index=True)

    project: Mapped[Project | None] = relationship(back_populates="results")
    artifacts: Mapped[list[Artifact]] = relationship(back_populates="result")


class Artifact(db.Model, FileMixin):  # type: ignore[name-defined,misc]
    """A file attached to a result or a run."""

    __tablename__ = "artifacts"
    result_id: Mapped[str | None] = _fk("results.id")
    run_id: Mapped[str | None] = _fk("runs.id")
    filename: Mapped[str | None] = mapped_column(Text, index=True)
    data: Mapped[Any] = mapped_column(JSONData, nullable=True)
    upload_date: Mapped[datetime] = mapped_column(
        DateTime, nullable=False, default=func.now(), index=True
    )

    result: Mapped[Result | None] = relationship(back_populates="artifacts")
    run: Mapped[Run | None] = relationship(back_populates="artifacts")


class Token(db.Model, ModelMixin):  # type: ignore[name-defined,misc]
    """An API token of a user."""

    __tablename__ = "tokens"
    name: Mapped[str] = mapped_column(Text, nullable=False)
    token: Mapped[str] = mapped_column(Text, nullable=False)
    expires: Mapped[datetime | None] = mapped_column(DateTime)
    user_id: Mapped[str | None] = _fk("users.id")

    user: Mapped[User | None] = relationship(back_populates="tokens")


watch_uuid_writes(db.Model)
