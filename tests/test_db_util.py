"""ibutsu_server.db.util: EXPLAIN statements, and the superadmin made at boot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from guard_processes import Processes, boot_config, query

from ibutsu_server import create_app
from ibutsu_server.db import db
from ibutsu_server.db.models import Project, User
from ibutsu_server.db.util import Explain, add_superadmin
from flask_migration_guard.errors import GuardConfigError

Session = Any
BOOTS = 16
UNKNOWN_KEY = (
    "IBUTSU_SUPERADMIN_* must be one of IBUTSU_SUPERADMIN_EMAIL, IBUTSU_SUPERADMIN_NAME,"
    " IBUTSU_SUPERADMIN_OWN_PROJECT, IBUTSU_SUPERADMIN_PASSWORD;"
    " got 'IBUTSU_SUPERADMIN_PASWORD'."
)


def test_explain_keeps_its_statement() -> None:
    """The statement is kept (SQL text wrapped), with the analyze flag."""
    select = sa.select(User)
    assert Explain(select).statement is select
    assert Explain(select).analyze is False
    assert Explain(select, analyze=True).analyze is True
    assert isinstance(Explain("SELECT 1").statement, sa.TextClause)
    assert Explain.inherit_cache is True


@pytest.mark.ibutsu_db_dialects("postgresql")
def test_explain_on_postgresql(ibutsu_db_session: Session) -> None:
    """Each statement gets its own plan (the statement is part of the cache key)."""
    first = ibutsu_db_session.execute(Explain(sa.select(User))).scalars().all()
    second = ibutsu_db_session.execute(Explain(User.query.filter_by(name="x"))).scalars().all()
    third = ibutsu_db_session.execute(Explain(sa.select(Project))).scalars().all()
    assert "on users" in first[0] and "rows=" in first[0]
    assert "on users" in second[0] and any("Filter" in line for line in second)
    assert "on projects" in third[0]
    analyzed = ibutsu_db_session.execute(Explain("SELECT 1", analyze=True)).scalars().all()
    assert any("actual time" in line for line in analyzed)


def _users(session: Session, email: str) -> list[User]:
    return list(session.scalars(sa.select(User).filter_by(email=email)))


def test_a_new_superadmin(ibutsu_db_session: Session) -> None:
    """A missing user is created active and superadmin, with its password hashed."""
    assert add_superadmin(name="Admin", email="admin@example.com", password="pw") is None
    [user] = _users(ibutsu_db_session, "admin@example.com")
    assert (user.name, user.is_superadmin, user.is_active) == ("Admin", True, True)
    assert user.check_password("pw")


def test_an_existing_superadmin_is_returned_unchanged(ibutsu_db_session: Session) -> None:
    """Name and password of an existing superadmin are left alone."""
    add_superadmin(name="First", email="admin@example.com", password="pw")
    again = add_superadmin(name="Second", email="admin@example.com", password="other")
    assert again is not None and again.name == "First" and again.check_password("pw")


def test_a_regular_user_is_promoted(ibutsu_db_session: Session) -> None:
    """An existing user becomes superadmin; its name and password stay."""
    ibutsu_db_session.add(User(email="user@example.com", name="User", password="mine"))
    ibutsu_db_session.commit()
    assert add_superadmin(name="Admin", email="user@example.com", password="other") is None
    [user] = _users(ibutsu_db_session, "user@example.com")
    assert user.is_superadmin and user.name == "User" and user.check_password("mine")


def test_the_own_project_is_made_once(ibutsu_db_session: Session) -> None:
    """own_project: one project of that name owned by the superadmin, however often asked."""
    for _ in range(3):
        add_superadmin(email="admin@example.com", password="pw", own_project="admin-project")
    [user] = _users(ibutsu_db_session, "admin@example.com")
    projects = ibutsu_db_session.scalars(sa.select(Project).filter_by(name="admin-project")).all()
    assert [(p.owner_id, p.name) for p in projects] == [(user.id, "admin-project")]
    assert user.name == "Ibutsu Admin"


def test_a_new_superadmin_needs_a_password(ibutsu_db_session: Session) -> None:
    """Without a password no user is created, and the message names the setting."""
    with pytest.raises(ValueError, match="IBUTSU_SUPERADMIN_PASSWORD"):
        add_superadmin(email="nopw@example.com")
    assert _users(ibutsu_db_session, "nopw@example.com") == []


def test_no_users_table_yet(ibutsu_db_empty_url: str) -> None:
    """Before the migrations, there is nothing to do."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": ibutsu_db_empty_url}, guard=False)
    with app.app_context():
        try:
            assert add_superadmin(email="a@example.com", password="pw") is None
            assert sa.inspect(db.engine).get_table_names() == []
        finally:
            db.engine.dispose()


def test_boot_makes_the_superadmin(
    ibutsu_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IBUTSU_SUPERADMIN_* from the environment and the config reach add_superadmin."""
    monkeypatch.setenv("IBUTSU_SUPERADMIN_EMAIL", "env@example.com")
    monkeypatch.setenv("IBUTSU_SUPERADMIN_PASSWORD", "from-env")
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": ibutsu_db_url, "IBUTSU_SUPERADMIN_OWN_PROJECT": "mine"}
    )
    with app.app_context():
        try:
            [user] = _users(db.session, "env@example.com")
            assert user.is_superadmin and user.check_password("from-env")
            assert [p.name for p in user.owned_projects] == ["mine"]
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"IBUTSU_SUPERADMIN_EMAIL": "a@b.c", "IBUTSU_SUPERADMIN_PASWORD": "s3cret-typo"},
         UNKNOWN_KEY),
        ({"IBUTSU_SUPERADMIN_PASSWORD": "s3cret-typo"},
         "IBUTSU_SUPERADMIN_EMAIL must be set when other IBUTSU_SUPERADMIN_* settings are"),
    ],
)
def test_bad_superadmin_settings(
    ibutsu_db_url: str, settings: dict[str, str], message: str
) -> None:
    """Unknown keys and a missing email stop the boot; no value is shown, nothing is written."""
    with pytest.raises(GuardConfigError) as caught:
        create_app({"SQLALCHEMY_DATABASE_URI": ibutsu_db_url, **settings})
    assert message in caught.value.message
    assert "s3cret" not in caught.value.message
    assert query(ibutsu_db_url, "SELECT count(*) FROM users") == [(0,)]


def test_parallel_boots_make_one_superadmin(
    empty_url: str, processes: Processes, tmp_path: Path
) -> None:
    """Sixteen processes boot at once on an empty database with IBUTSU_SUPERADMIN_* set:
    every one boots, and there is one superadmin and one project it owns."""
    start = tmp_path / "start"
    config = boot_config(
        empty_url,
        IBUTSU_DB_LOCK_TIMEOUT=120,
        IBUTSU_SUPERADMIN_EMAIL="admin@example.com",
        IBUTSU_SUPERADMIN_PASSWORD="pw",
        IBUTSU_SUPERADMIN_OWN_PROJECT="admin-project",
        BCRYPT_LOG_ROUNDS=4,
    )
    boots = [processes.boot(config, f"boot{number}", start) for number in range(BOOTS)]
    for process in boots:
        process.wait_for("READY")
    start.touch()
    codes = [process.wait(timeout=180) for process in boots]
    everything = "\n".join(process.describe() for process in boots)
    assert codes == [0] * BOOTS, everything
    assert all(process.result()["state"] == "at_head" for process in boots), everything
    users = query(empty_url, "SELECT id, is_superadmin FROM users")
    assert len(users) == 1 and users[0][1] in (True, 1), users
    projects = query(empty_url, "SELECT owner_id, name FROM projects")
    assert projects == [(users[0][0], "admin-project")]
