"""Relationships and back-references of the models, what deleting a parent does, and
that no password hash or activation code leaves to_dict, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from model_graph import Graph, build_graph

from ibutsu_server.db.models import (
    Artifact,
    Dashboard,
    Group,
    Import,
    ImportFile,
    Project,
    Result,
    Run,
    Token,
    User,
    WidgetConfig,
    users_projects,
)

Session = Any


def fresh(session: Session, model: type[Any], id_: str) -> Any:
    session.expunge_all()
    instance = session.get(model, id_)
    assert instance is not None
    return instance


def test_every_relationship_loads(ibutsu_db_session: Session) -> None:
    """Each relationship and back-reference reaches the rows the foreign keys name."""
    graph = build_graph(ibutsu_db_session)
    project = fresh(ibutsu_db_session, Project, graph.project)
    assert project.owner.id == graph.owner
    assert {user.id for user in project.users} == {graph.owner, graph.member}
    assert [run.id for run in project.runs] == [graph.run]
    assert [result.id for result in project.results] == [graph.result]
    assert [dashboard.id for dashboard in project.dashboards] == [graph.dashboard]
    assert [widget.id for widget in project.widget_configs] == [graph.widget]
    assert project.default_dashboard.id == graph.dashboard

    run = project.runs[0]
    result = project.results[0]
    assert run.project is project and result.project is project
    assert [r.id for r in run.results] == [graph.result]
    assert [a.id for a in run.artifacts] == [graph.artifact]
    assert [a.id for a in result.artifacts] == [graph.artifact]
    artifact = result.artifacts[0]
    assert artifact.result is result and artifact.run is run

    dashboard = project.dashboards[0]
    assert dashboard.project is project
    assert [widget.id for widget in dashboard.widgets] == [graph.widget]
    assert project.widget_configs[0].project is project

    owner = project.owner
    assert [p.id for p in owner.projects] == [graph.project]
    assert [p.id for p in owner.owned_projects] == [graph.project]
    assert [t.id for t in owner.tokens] == [graph.token]
    assert [d.id for d in owner.dashboards] == [graph.dashboard]
    assert owner.tokens[0].user is owner

    group = fresh(ibutsu_db_session, Group, graph.group)
    assert [p.id for p in group.projects] == [graph.project]
    imported = fresh(ibutsu_db_session, Import, graph.import_)
    assert [f.id for f in imported.file] == [graph.import_file]


def test_relationships_in_queries(ibutsu_db_session: Session) -> None:
    """Relationships compare in queries, as the server's controllers use them."""
    graph = build_graph(ibutsu_db_session)
    owner = fresh(ibutsu_db_session, User, graph.owner)
    member = ibutsu_db_session.get(User, graph.member)
    assert Token.query.filter(Token.user == owner).count() == 1
    assert [p.id for p in Project.query.filter_by(owner=owner)] == [graph.project]
    assert Project.query.filter_by(owner=member).count() == 0
    assert Project.query.filter(Project.users.contains(member)).count() == 1


def test_members_come_with_a_queried_project(ibutsu_db_session: Session) -> None:
    """A project read by a query carries its members, also once the session let go of it."""
    graph = build_graph(ibutsu_db_session)
    ibutsu_db_session.expunge_all()
    project = Project.query.filter_by(id=graph.project).one()
    ibutsu_db_session.expunge(project)
    assert {user.email for user in project.users} == {"owner@example.com", "member@example.com"}


def test_changing_relationships(ibutsu_db_session: Session) -> None:
    """Memberships and owners change through the relationship attributes."""
    graph = build_graph(ibutsu_db_session)
    project = fresh(ibutsu_db_session, Project, graph.project)
    newcomer = User(email="new@example.com")
    project.owner = newcomer
    ibutsu_db_session.add(project)
    other = Project(name="other")
    newcomer.projects = [project, other]
    ibutsu_db_session.commit()
    project = fresh(ibutsu_db_session, Project, graph.project)
    newcomer = ibutsu_db_session.scalars(sa.select(User).filter_by(email="new@example.com")).one()
    assert project.owner_id == newcomer.id
    assert newcomer in project.users
    assert {p.name for p in newcomer.projects} == {"ibutsu", "other"}
    newcomer.projects.clear()
    ibutsu_db_session.commit()
    assert fresh(ibutsu_db_session, User, newcomer.id).projects == []


def test_deleting_a_project(ibutsu_db_session: Session) -> None:
    """Its memberships go; runs, results, dashboards and widgets stay, unlinked; users stay."""
    graph = build_graph(ibutsu_db_session)
    project = fresh(ibutsu_db_session, Project, graph.project)
    project.default_dashboard = None
    ibutsu_db_session.flush()
    ibutsu_db_session.delete(project)
    ibutsu_db_session.commit()
    ibutsu_db_session.expunge_all()
    assert ibutsu_db_session.get(Project, graph.project) is None
    links = ibutsu_db_session.execute(sa.select(users_projects)).all()
    assert links == []
    for model, id_ in [(Run, graph.run), (Result, graph.result),
                       (Dashboard, graph.dashboard), (WidgetConfig, graph.widget)]:
        row = ibutsu_db_session.get(model, id_)
        assert row is not None and row.project_id is None, model.__name__
    assert ibutsu_db_session.get(User, graph.member) is not None
    assert ibutsu_db_session.get(Artifact, graph.artifact).result_id == graph.result


def test_deleting_runs_results_and_imports(ibutsu_db_session: Session) -> None:
    """A run's results and artifacts are unlinked; an import's files are deleted with it."""
    graph = build_graph(ibutsu_db_session)
    ibutsu_db_session.delete(fresh(ibutsu_db_session, Run, graph.run))
    ibutsu_db_session.delete(ibutsu_db_session.get(Import, graph.import_))
    ibutsu_db_session.commit()
    ibutsu_db_session.expunge_all()
    assert ibutsu_db_session.get(Result, graph.result).run_id is None
    assert ibutsu_db_session.get(Artifact, graph.artifact).run_id is None
    assert ibutsu_db_session.get(ImportFile, graph.import_file) is None


def test_user_cleanup(ibutsu_db_session: Session) -> None:
    """Before a user is deleted, its projects and dashboards go to a new owner."""
    graph = build_graph(ibutsu_db_session)
    owner = fresh(ibutsu_db_session, User, graph.owner)
    heir = ibutsu_db_session.get(User, graph.member)
    owner.user_cleanup(heir, ibutsu_db_session)
    ibutsu_db_session.delete(owner)
    ibutsu_db_session.commit()
    ibutsu_db_session.expunge_all()
    project = ibutsu_db_session.get(Project, graph.project)
    assert project.owner_id == graph.member
    assert [user.id for user in project.users] == [graph.member]
    assert ibutsu_db_session.get(Dashboard, graph.dashboard).user_id == graph.member
    assert ibutsu_db_session.get(Token, graph.token) is None
    assert ibutsu_db_session.get(User, graph.owner) is None


def _secrets(value: Any) -> list[str]:
    """Keys anywhere in ``value`` that would carry a password hash or an activation code."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in {"_password", "password", "activation_code"}:
                found.append(key)
            found += _secrets(item)
    elif isinstance(value, list):
        for item in value:
            found += _secrets(item)
    return found


def test_no_secret_leaves_to_dict(ibutsu_db_session: Session) -> None:
    """Project and user dicts, with owners, members and projects, hold no hash or code."""
    graph: Graph = build_graph(ibutsu_db_session)
    project = fresh(ibutsu_db_session, Project, graph.project)
    owner = project.owner
    assert owner.password and owner.activation_code
    with_owner = project.to_dict(with_owner=True)
    assert with_owner["owner"]["id"] == graph.owner
    assert with_owner["defaultDashboard"]["id"] == graph.dashboard
    assert {user["email"] for user in with_owner["users"]} == {
        "owner@example.com", "member@example.com"
    }
    assert "owner" not in project.to_dict()
    with_projects = owner.to_dict(with_projects=True)
    assert [p["id"] for p in with_projects["projects"]] == [graph.project]
    assert "projects" not in owner.to_dict()
    for record in (with_owner, with_projects, owner.to_dict()):
        assert _secrets(record) == []
    assert "owner-secret" not in repr(with_owner) + repr(with_projects)
