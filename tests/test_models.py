"""The models: their tables, the portable column types and an ORM round trip."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from conftest import Migrate
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from ibutsu_server import create_app
from ibutsu_server.db import db
from ibutsu_server.db.models import Project, Result, Run
from ibutsu_server.db.types import PortableJSON, PortableUUID

MakeEngine = Callable[[str], sa.Engine]

TABLES = {
    "groups", "users", "dashboards", "projects", "widget_configs", "imports", "import_files",
    "runs", "results", "artifacts", "tokens", "users_projects",
}


def test_model_tables() -> None:
    """The metadata holds exactly Ibutsu's tables, with no meta or version table."""
    assert set(db.metadata.tables) == TABLES


@pytest.mark.parametrize(
    ("type_", "dialect", "rendered"),
    [
        (PortableUUID(), postgresql.dialect(), "UUID"),
        (PortableUUID(), sqlite.dialect(), "CHAR(32)"),
        (PortableUUID(as_uuid=False), postgresql.dialect(), "UUID"),
        (PortableJSON(), postgresql.dialect(), "JSONB"),
        (PortableJSON(), sqlite.dialect(), "JSON"),
    ],
)
def test_portable_types_render(type_: sa.types.TypeEngine[object], dialect: Dialect,
                               rendered: str) -> None:
    """Native UUID and JSONB on PostgreSQL, CHAR(32) and JSON elsewhere."""
    assert type_.compile(dialect=dialect) == rendered


def test_portable_uuid_values() -> None:
    """UUIDs are bound as hyphenated strings; other values pass through, except on PostgreSQL."""
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    lite, pg = sqlite.dialect(), postgresql.dialect()
    assert PortableUUID().process_bind_param(value, lite) == str(value)
    assert PortableUUID().process_bind_param(value.hex, lite) == value.hex
    assert PortableUUID().process_bind_param("not-a-uuid", lite) == "not-a-uuid"
    assert PortableUUID().process_bind_param(None, lite) is None
    assert PortableUUID().process_bind_param(value.hex, pg) == str(value)
    assert PortableUUID().process_bind_param("not-a-uuid", pg) is None
    assert PortableUUID().process_result_value(value, lite) == str(value)
    assert PortableUUID(as_uuid=True).process_result_value(str(value), lite) == value
    assert PortableUUID(as_uuid=True).process_result_value(None, lite) is None


def test_orm_round_trip(empty_url: str, migrate: Migrate, make_engine: MakeEngine) -> None:
    """A project with a run and a result survives a write and a fresh read."""
    migrate(empty_url, "upgrade", "head")
    data = {"tags": ["smoke", "ui"], "jenkins": {"job_name": "nightly", "build_number": "42"},
            "ratio": 0.5, "ok": True, "nothing": None}
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_url}, guard=False)
    with app.app_context():
        try:
            project = Project(name="ibutsu", title="Ibutsu")
            db.session.add(project)
            db.session.flush()
            run = Run(project_id=project.id, data={"env": "ci"},
                      summary={"tests": 1, "passes": 1})
            db.session.add(run)
            db.session.flush()
            result = Result(
                project_id=project.id, run_id=run.id, test_id="test_login", result="passed",
                data=data, params={"browser": "firefox"},
            )
            db.session.add(result)
            db.session.commit()
            ids = (project.id, run.id, result.id)
            db.session.expunge_all()

            stored_project = db.session.get(Project, ids[0])
            stored_run = db.session.get(Run, ids[1])
            stored_result = db.session.get(Result, ids[2])
            assert stored_project is not None and stored_run is not None
            assert stored_result is not None
            for value in (stored_project.id, stored_run.id, stored_result.id,
                          stored_run.project_id, stored_result.run_id):
                assert isinstance(value, str)
                assert str(uuid.UUID(value)) == value
            assert (stored_project.id, stored_run.id, stored_result.id) == ids
            assert stored_result.project_id == stored_project.id
            assert stored_result.data == data
            assert stored_result.params == {"browser": "firefox"}
            assert stored_run.summary == {"tests": 1, "passes": 1}
            assert stored_run.start_time is not None and stored_run.created is not None
        finally:
            db.session.remove()
            db.engine.dispose()

    with make_engine(empty_url).connect() as connection:
        stored = connection.execute(
            sa.text("SELECT id FROM results WHERE test_id = 'test_login'")
        ).scalar()
    assert str(stored) == ids[2]
    assert len(str(stored)) == 36


def test_json_changes_are_tracked(
    empty_url: str, migrate: Migrate
) -> None:
    """Changing a key of a data dict in place is saved by the next commit."""
    migrate(empty_url, "upgrade", "head")
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_url}, guard=False)
    with app.app_context():
        try:
            project = Project(name="tracked")
            db.session.add(project)
            db.session.flush()
            run = Run(project_id=project.id, data={"status": "running"})
            db.session.add(run)
            db.session.commit()
            run.data["status"] = "done"
            db.session.commit()
            run_id = run.id
            db.session.expunge_all()
            stored = db.session.get(Run, run_id)
            assert stored is not None
            assert stored.data == {"status": "done"}
        finally:
            db.session.remove()
            db.engine.dispose()
