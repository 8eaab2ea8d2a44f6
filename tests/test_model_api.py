"""The model API Ibutsu Server's code uses: modules, to_dict, from_dict, update, JSON and UUIDs.

Every test that touches SQL runs on SQLite and PostgreSQL, in a transaction
rolled back afterwards (the ``ibutsu_db_session`` fixture).
"""

from __future__ import annotations

import pkgutil
import uuid
from datetime import datetime, timezone
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from model_graph import STARTED, build_graph

import ibutsu_server
from ibutsu_server.db import base
from ibutsu_server.db import db
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

Session = Any

BASE_NAMES = [
    "Boolean", "Column", "DateTime", "Float", "ForeignKey", "Integer", "LargeBinary",
    "String", "Table", "Text",
]

# The keys of to_dict, in order, and the type of each value in the graph.
KEYS: dict[type[Any], list[tuple[str, type | None]]] = {
    Artifact: [("result_id", str), ("run_id", str), ("filename", str),
               ("upload_date", datetime), ("id", str), ("additional_metadata", dict)],
    Dashboard: [("title", str), ("description", str), ("filters", str), ("project_id", str),
                ("user_id", str), ("id", str)],
    Group: [("name", str), ("id", str), ("metadata", dict)],
    Import: [("filename", str), ("format", str), ("status", str), ("created", datetime),
             ("id", str), ("metadata", dict)],
    ImportFile: [("import_id", str), ("id", str)],
    Project: [("name", str), ("title", str), ("owner_id", str), ("group_id", str),
              ("default_dashboard_id", str), ("id", str), ("defaultDashboard", dict),
              ("users", list)],
    Result: [("component", str), ("duration", float), ("env", str), ("params", dict),
             ("project_id", str), ("result", str), ("run_id", str), ("source", str),
             ("start_time", datetime), ("test_id", str), ("id", str), ("metadata", dict)],
    Run: [("component", str), ("created", datetime), ("duration", float), ("env", str),
          ("project_id", str), ("source", str), ("start_time", datetime), ("summary", dict),
          ("id", str), ("metadata", dict)],
    WidgetConfig: [("navigable", bool), ("params", dict), ("project_id", str),
                   ("dashboard_id", str), ("title", str), ("type", str), ("weight", int),
                   ("widget", str), ("id", str)],
    User: [("email", str), ("name", str), ("is_superadmin", bool), ("is_active", bool),
           ("group_id", type(None)), ("id", str)],
    Token: [("name", str), ("token", str), ("expires", datetime), ("user_id", str), ("id", str)],
}

GRAPH_IDS = {
    Artifact: "artifact", Dashboard: "dashboard", Group: "group", Import: "import_",
    ImportFile: "import_file", Project: "project", Result: "result", Run: "run",
    WidgetConfig: "widget", User: "owner", Token: "token",
}


def reloaded(session: Session, model: type[Any], id_: str) -> Any:
    """The row read again from the database, not from the session's memory."""
    session.expunge_all()
    instance = session.get(model, id_)
    assert instance is not None
    return instance


def test_base_reexports_the_db_objects() -> None:
    """``ibutsu_server.db.base`` names the very objects of ``db``; the package exports ``db``."""
    assert ibutsu_server.db.db is base.db is db
    assert ibutsu_server.db.__all__ == ["db"]
    assert base.session is db.session
    assert base.Model is db.Model
    assert base.inspect is sa.inspect
    assert base.relationship == db.relationship
    for name in BASE_NAMES:
        assert getattr(base, name) is getattr(db, name), name
    table = base.Table("scratch_table", base.Column("x", base.Integer))
    try:
        assert table.metadata is db.metadata
    finally:
        db.metadata.remove(table)


@pytest.mark.parametrize(
    "path",
    [
        "ibutsu_server.db.db.init_app",
        "ibutsu_server.db.db.session.commit",
        "ibutsu_server.db.db.session.add",
        "ibutsu_server.db.db.session.remove",
        "ibutsu_server.db.util.inspect",
        "ibutsu_server.add_superadmin",
    ],
)
def test_patched_attribute_paths_resolve(path: str) -> None:
    """The paths Ibutsu Server's tests patch resolve, and patching them takes effect."""
    original = pkgutil.resolve_name(path)
    with mock.patch(path) as patched:
        assert pkgutil.resolve_name(path) is patched
    assert pkgutil.resolve_name(path) == original


def test_engine_is_a_property_of_the_class() -> None:
    """``patch.object(type(db), "engine", new_callable=PropertyMock)`` needs a class property."""
    assert isinstance(type(db).__dict__["engine"], property)


def test_importing_the_package_registers_every_table() -> None:
    """Importing ``ibutsu_server`` is enough for ``db.metadata`` to know all twelve tables."""
    assert {"users", "projects", "runs", "results", "users_projects"} <= set(db.metadata.tables)
    assert len(db.metadata.tables) == 12


@pytest.mark.parametrize("model", list(KEYS), ids=lambda model: model.__name__)
def test_to_dict_keys_and_types(ibutsu_db_session: Session, model: type[Any]) -> None:
    """Each model's to_dict: its keys in order, id last, and the Python type of each value."""
    graph = build_graph(ibutsu_db_session)
    instance = reloaded(ibutsu_db_session, model, getattr(graph, GRAPH_IDS[model]))
    record = instance.to_dict()
    assert list(record) == [key for key, _ in KEYS[model]]
    for key, expected in KEYS[model]:
        assert isinstance(record[key], expected or type(None)), (key, record[key])
    assert record["id"] == getattr(graph, GRAPH_IDS[model])


def test_to_dict_values(ibutsu_db_session: Session) -> None:
    """Values are the attributes' own: data as metadata, file content left out."""
    graph = build_graph(ibutsu_db_session)
    run = reloaded(ibutsu_db_session, Run, graph.run).to_dict()
    assert run["metadata"] == {"env": "ci", "tags": ["smoke"]}
    assert run["summary"] == {"tests": 2, "passes": 1, "failures": 1}
    assert run["start_time"] == STARTED
    assert run["duration"] == 12.5
    artifact = reloaded(ibutsu_db_session, Artifact, graph.artifact).to_dict()
    assert artifact["additional_metadata"] == {"contentType": "text/plain"}
    assert "content" not in artifact and "data" not in artifact
    assert "content" not in reloaded(ibutsu_db_session, ImportFile, graph.import_file).to_dict()


def test_missing_data_is_an_empty_dict() -> None:
    """A model whose data is None shows ``metadata: {}``."""
    assert Run().to_dict()["metadata"] == {}
    assert Artifact().to_dict()["additional_metadata"] == {}


def test_from_dict(ibutsu_db_session: Session) -> None:
    """from_dict: metadata becomes data, ISO strings become datetimes, nothing is added."""
    owner = User(email="from-dict@example.com")
    run = Run.from_dict(
        metadata={"build": 7}, start_time="2026-11-30T12:00:00Z", summary={"tests": 1},
        env="ci", id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    )
    assert run.data == {"build": 7}
    assert run.start_time == datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    assert run.id == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert run not in ibutsu_db_session
    assert Run.from_dict(metadata=None).data == {}
    assert Result.from_dict(start_time="2026-11-30T12:00:00.500000+02:00").start_time.hour == 12
    assert Project.from_dict(name="p", owner=owner).owner is owner
    assert Token.from_dict(name="t", token="x", user=owner).user is owner
    with pytest.raises(TypeError, match="'colour' is an invalid keyword argument for Run"):
        Run.from_dict(colour="red")
    with pytest.raises(ValueError):
        Run.from_dict(start_time="yesterday")


def test_from_dict_round_trip(ibutsu_db_session: Session) -> None:
    """A record from to_dict builds an equal row through from_dict."""
    graph = build_graph(ibutsu_db_session)
    record = reloaded(ibutsu_db_session, Result, graph.result).to_dict()
    record["id"] = str(uuid.uuid4())
    copy = Result.from_dict(**record)
    ibutsu_db_session.add(copy)
    ibutsu_db_session.commit()
    stored = reloaded(ibutsu_db_session, Result, record["id"]).to_dict()
    assert stored == record


def test_update_merges_metadata(ibutsu_db_session: Session) -> None:
    """update: new metadata merged into old at every depth, a None erases nothing, id kept."""
    graph = build_graph(ibutsu_db_session)
    result = reloaded(ibutsu_db_session, Result, graph.result)
    record = {
        "id": "ignored",
        "result": "failed",
        "metadata": {"jenkins": {"build_number": "42"}, "assignee": None, "tags": ["new"]},
    }
    result.update(record)
    ibutsu_db_session.commit()
    stored = reloaded(ibutsu_db_session, Result, graph.result)
    assert stored.id == graph.result
    assert stored.result == "failed"
    assert stored.data == {
        "jenkins": {"job_name": "nightly", "build_number": "42"},
        "tags": ["new"],
        "assignee": None,
    }
    stored.update({"metadata": None})
    assert stored.data["jenkins"]["job_name"] == "nightly"


def test_update_applies_data(ibutsu_db_session: Session) -> None:
    """update({"data": ...}) is applied, as tasks do with runs (merged like metadata)."""
    graph = build_graph(ibutsu_db_session)
    run = reloaded(ibutsu_db_session, Run, graph.run)
    run.update({"summary": {"tests": 3}, "data": {"env": "prod", "extra": True}})
    ibutsu_db_session.commit()
    stored = reloaded(ibutsu_db_session, Run, graph.run)
    assert stored.summary == {"tests": 3}
    assert stored.data == {"env": "prod", "extra": True, "tags": ["smoke"]}


def test_update_of_file_and_project_models(ibutsu_db_session: Session) -> None:
    """File models merge additional_metadata; projects ignore the keys to_dict adds."""
    graph = build_graph(ibutsu_db_session)
    artifact = reloaded(ibutsu_db_session, Artifact, graph.artifact)
    artifact.update({"additional_metadata": {"size": 5}, "filename": "new.txt"})
    project = ibutsu_db_session.get(Project, graph.project)
    record = project.to_dict(with_owner=True)
    record.update(title="Renamed", users=[], owner=None, defaultDashboard=None)
    project.update(record)
    ibutsu_db_session.commit()
    stored = reloaded(ibutsu_db_session, Artifact, graph.artifact)
    assert stored.data == {"contentType": "text/plain", "size": 5}
    assert stored.filename == "new.txt"
    project = reloaded(ibutsu_db_session, Project, graph.project)
    assert project.title == "Renamed"
    assert {user.id for user in project.users} == {graph.owner, graph.member}
    assert project.owner_id == graph.owner


def test_nested_json_changes_are_saved(ibutsu_db_session: Session) -> None:
    """In-place changes at any depth of a JSON column reach the database on commit."""
    graph = build_graph(ibutsu_db_session)
    run = reloaded(ibutsu_db_session, Run, graph.run)
    run.data["a"] = {}
    ibutsu_db_session.commit()
    run.data["a"]["b"] = 1
    run.data["tags"].append("nightly")
    run.data.setdefault("ids", []).append("r1")
    run.summary["counts"] = {"skips": 0}
    ibutsu_db_session.commit()
    run = reloaded(ibutsu_db_session, Run, graph.run)
    run.summary["counts"]["skips"] = 2
    ibutsu_db_session.commit()
    stored = reloaded(ibutsu_db_session, Run, graph.run)
    assert stored.data == {"env": "ci", "tags": ["smoke", "nightly"], "a": {"b": 1}, "ids": ["r1"]}
    assert stored.summary["counts"] == {"skips": 2}


def test_json_columns_take_lists(ibutsu_db_session: Session) -> None:
    """A JSON column holds a list, and changes to it are saved too."""
    imported = Import(filename="x.xml", data=["first"])
    ibutsu_db_session.add(imported)
    ibutsu_db_session.commit()
    imported.data.append({"second": 2})
    ibutsu_db_session.commit()
    assert reloaded(ibutsu_db_session, Import, imported.id).data == ["first", {"second": 2}]


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "", "0f1e2d3c-zzzz"])
def test_looking_up_a_bad_id_finds_nothing(ibutsu_db_session: Session, bad: str) -> None:
    """A string that is not a UUID is "not found" in every kind of look-up, never an error."""
    graph = build_graph(ibutsu_db_session)
    assert ibutsu_db_session.get(Project, bad) is None
    with pytest.warns(sa.exc.LegacyAPIWarning):
        assert Project.query.get(bad) is None
    assert Project.query.filter_by(id=bad).first() is None
    assert Run.query.filter(Run.project_id == bad).count() == 0
    found = Project.query.filter(Project.id.in_([bad, graph.project])).all()
    assert [project.id for project in found] == [graph.project]
    assert db.session.execute(sa.select(Result).where(Result.run_id == bad)).first() is None


def test_ids_in_other_spellings_find_the_row(ibutsu_db_session: Session) -> None:
    """A uuid.UUID object finds its row on both dialects."""
    graph = build_graph(ibutsu_db_session)
    assert ibutsu_db_session.get(Project, uuid.UUID(graph.project)).id == graph.project


def test_writing_a_bad_id(ibutsu_db_session: Session, ibutsu_db_dialect: str) -> None:
    """PostgreSQL refuses a non-UUID id before writing; SQLite stores it as given, as Ibutsu did."""
    group = Group(id="not-a-uuid", name="odd")
    ibutsu_db_session.add(group)
    if ibutsu_db_dialect == "postgresql":
        with pytest.raises(ValueError, match="Group.id must be a UUID; got 'not-a-uuid'"):
            ibutsu_db_session.flush()
        ibutsu_db_session.rollback()
        assert Group.query.filter_by(name="odd").count() == 0
        run = Run(project_id="garbage")
        ibutsu_db_session.add(run)
        with pytest.raises(ValueError, match="Run.project_id must be a UUID"):
            ibutsu_db_session.flush()
        ibutsu_db_session.rollback()
    else:
        ibutsu_db_session.commit()
        assert reloaded(ibutsu_db_session, Group, "not-a-uuid").name == "odd"
