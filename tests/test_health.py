"""The health endpoints: ``/api/health`` for the process, ``/api/health/database`` for
the migration state. Neither shows a URL or a password.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask
from guard_databases import (
    CASES_BY_NAME,
    CLOSED_PORT_URL,
    HEAD,
    Case,
    app_config,
    case_params,
    migrate_to,
    snapshot,
)
from guard_processes import forwarded
from sqlalchemy.engine import make_url

from ibutsu_server import create_app
from ibutsu_server.db import db
from flask_migration_guard import StateName
from ibutsu_server.health import DATABASE_CHECK_TIMEOUT

pytestmark = pytest.mark.usefixtures("clean_environment")


KEYS = {"state", "current", "head", "pending"}


def off_app(url: str, **config: object) -> Flask:
    """An app in off mode: it serves whatever the database's state."""
    return create_app(app_config(url, "off", **config))


def test_process_health_needs_no_database() -> None:
    """/api/health answers 200 even when the database is unreachable."""
    response = off_app(CLOSED_PORT_URL).test_client().get("/api/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "OK", "message": "Service is running"}


@pytest.mark.parametrize(("case", "dialect"), case_params())
def test_database_health(case: Case, dialect: str, case_url: str) -> None:
    """200 at head and ahead by compatible revisions, 503 in every other state, always with
    state, current, head and pending."""
    before = snapshot(case_url)
    response = off_app(case_url, **case.config).test_client().get("/api/health/database")
    servable = case.state in (StateName.AT_HEAD, StateName.AHEAD_COMPATIBLE)
    assert response.status_code == (200 if servable else 503)
    body = response.get_json()
    assert set(body) == KEYS
    assert body["state"] == case.state.value
    assert all(isinstance(body[key], list) for key in KEYS - {"state"})
    assert snapshot(case_url) == before


BODIES = {
    "at_head": {"state": "at_head", "current": [HEAD], "head": [HEAD], "pending": []},
    "behind": {
        "state": "behind",
        "current": ["8cf9148b9ad9"],
        "head": [HEAD],
        "pending": ["e5736dbcc0b0", HEAD],
    },
}


@pytest.mark.parametrize(
    ("case", "dialect"), case_params(CASES_BY_NAME[name] for name in BODIES)
)
def test_database_health_body(case: Case, dialect: str, case_url: str) -> None:
    """The body lists the revisions: at head in check mode, behind with the app in off mode."""
    mode = "check" if case.state is StateName.AT_HEAD else "off"
    response = create_app(app_config(case_url, mode)).test_client().get("/api/health/database")
    assert response.status_code == (200 if case.state is StateName.AT_HEAD else 503)
    assert response.get_json() == BODIES[case.name]


def test_database_unreachable() -> None:
    """503 'unreachable' when nothing answers, with the four keys, a reason and no URL."""
    response = off_app(CLOSED_PORT_URL).test_client().get("/api/health/database")
    assert response.status_code == 503
    assert response.get_json() == {
        "state": "unreachable",
        "reason": "connection refused",
        "current": [],
        "head": [HEAD],
        "pending": [],
    }
    text = response.get_data(as_text=True)
    assert "s3cret-pw" not in text
    assert "127.0.0.1" not in text and "postgresql" not in text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"database": "no_such_database_here"}, "database does not exist"),
        ({"username": "no_such_role_here"}, "role does not exist"),
        ({"host": "no-such-host.invalid"}, "host name not found"),
    ],
    ids=["database", "role", "host"],
)
def test_unreachable_says_why_in_fixed_words(
    postgres_url: str, change: dict[str, str], reason: str
) -> None:
    """The reason tells what the server or the resolver said, naming none of the values."""
    url = make_url(postgres_url).set(**change)
    app = off_app(url.render_as_string(hide_password=False))
    body = app.test_client().get("/api/health/database").get_json()
    assert (body["state"], body["reason"]) == ("unreachable", reason)
    assert list(change.values())[0] not in str(body)


def test_an_unopenable_sqlite_file_is_named_as_such(tmp_path: Path) -> None:
    """A SQLite path that is a folder: the file cannot be opened, and the path stays out."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    body = off_app(f"sqlite:///{folder}").test_client().get("/api/health/database").get_json()
    assert (body["state"], body["reason"]) == ("unreachable", "database file cannot be opened")
    assert "a-folder" not in str(body)


def test_no_url_or_password_in_the_body(postgres_url: str) -> None:
    """The database endpoint never shows the password, the host or the URL."""
    url = make_url(postgres_url)
    if url.password is None:
        url = url.set(password="s3cret-pw")
    migrate_to(postgres_url, HEAD)
    app = create_app(app_config(url.render_as_string(hide_password=False), "check"))
    for path in ("/api/health", "/api/health/database"):
        text = app.test_client().get(path).get_data(as_text=True)
        assert str(url.password) not in text
        assert str(url.host) not in text and str(url.database) not in text
        assert "postgresql" not in text


def _timed_get(app: Flask, path: str) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    response = app.test_client().get(path)
    return response.status_code, response.get_json(), time.monotonic() - started


def test_a_silent_partition_answers_503_within_the_bound(postgres_url: str) -> None:
    """A path that stops moving bytes: JSON 503 within the bound, also for the next request."""
    migrate_to(postgres_url, HEAD)
    with forwarded(postgres_url) as (forwarder, through):
        app = create_app(app_config(through, "check"))
        assert _timed_get(app, "/api/health/database")[0] == 200
        forwarder.freeze()
        reasons = []
        for _ in range(2):
            status, body, took = _timed_get(app, "/api/health/database")
            assert status == 503
            assert body["state"] == "unreachable"
            assert took < DATABASE_CHECK_TIMEOUT + 5
            reasons.append(body["reason"])
        # The second request joins the first one's check, which the connect timeout may end.
        assert reasons[0] == f"no answer within {DATABASE_CHECK_TIMEOUT:g} s"
        assert reasons[1] in (reasons[0], "connection timed out")


def test_an_exhausted_pool_answers_503(postgres_url: str) -> None:
    """Every pooled connection taken: JSON 503 with the reason, not an HTML 500."""
    migrate_to(postgres_url, HEAD)
    options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.5}
    app = create_app(app_config(postgres_url, "check", SQLALCHEMY_ENGINE_OPTIONS=options))
    with app.app_context():
        taken = db.engine.connect()
        try:
            status, body, _ = _timed_get(app, "/api/health/database")
        finally:
            taken.close()
            db.engine.dispose()
    assert status == 503
    assert body["state"] == "unreachable"
    assert body["reason"] == "no free connection in the pool"
