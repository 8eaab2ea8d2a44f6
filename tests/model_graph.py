"""A project with everything that can hang off it, for the model API tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
)

STARTED = datetime(2026, 11, 30, 12, 0, 0)


@dataclass
class Graph:
    """Ids of one of each model, all linked to one project."""

    group: str
    owner: str
    member: str
    project: str
    dashboard: str
    widget: str
    run: str
    result: str
    artifact: str
    token: str
    import_: str
    import_file: str


def build_graph(session: Any) -> Graph:
    """Create, commit and return the ids of a project with members, data and files.

    The owner's password is ``owner-secret``; both users have an activation code.
    """
    group = Group(name="qe", data={"region": "eu"})
    owner = User(
        email="owner@example.com", name="Owner", password="owner-secret",
        activation_code="owner-code", is_active=True,
    )
    member = User(email="member@example.com", name="Member", activation_code="member-code")
    project = Project(name="ibutsu", title="Ibutsu", owner=owner)
    project.users.append(owner)
    project.users.append(member)
    session.add_all([group, project])
    session.flush()
    project.group_id = group.id
    dashboard = Dashboard(title="Overview", project=project, user_id=owner.id)
    widget = WidgetConfig(
        widget="result-summary", type="widget", params={"days": 7}, weight=1,
        navigable=True, title="Summary", project=project, dashboard_id=None,
    )
    session.add_all([dashboard, widget])
    session.flush()
    widget.dashboard_id = dashboard.id
    project.default_dashboard = dashboard
    run = Run(
        project=project, data={"env": "ci", "tags": ["smoke"]}, env="ci", component="ui",
        source="jenkins", start_time=STARTED, duration=12.5,
        summary={"tests": 2, "passes": 1, "failures": 1},
    )
    session.add(run)
    session.flush()
    result = Result(
        project=project, run_id=run.id, test_id="test_login", result="passed", env="ci",
        component="ui", source="jenkins", start_time=STARTED, duration=1.5,
        params={"browser": "firefox"}, data={"jenkins": {"job_name": "nightly"}},
    )
    session.add(result)
    session.flush()
    artifact = Artifact(
        result=result, run=run, filename="log.txt", content=b"hello",
        data={"contentType": "text/plain"}, upload_date=STARTED,
    )
    token = Token(name="login-token", token="jwt", user=owner, expires=STARTED)
    import_ = Import(filename="results.xml", format="junit", status="done", data={"a": 1})
    session.add_all([artifact, token, import_])
    session.flush()
    import_file = ImportFile(import_id=import_.id, content=b"<testsuite/>")
    session.add(import_file)
    session.commit()
    return Graph(
        group=group.id, owner=owner.id, member=member.id, project=project.id,
        dashboard=dashboard.id, widget=widget.id, run=run.id, result=result.id,
        artifact=artifact.id, token=token.id, import_=import_.id, import_file=import_file.id,
    )
