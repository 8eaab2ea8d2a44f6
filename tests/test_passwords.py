"""User passwords: bcrypt hashes, their cost, their limits, and checking them."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
import sqlalchemy as sa
from flask import Flask

from ibutsu_server.db.models import User
from ibutsu_server.db.passwords import hash_password, password_matches


def cost(hashed: str) -> int:
    """The bcrypt cost written in a hash: ``$2b$<cost>$...``."""
    assert hashed.startswith("$2b$")
    return int(hashed.split("$")[2])


def test_assigning_a_password_stores_its_hash() -> None:
    """``password`` hashes on assignment, in the constructor and in update."""
    user = User(email="a@example.com", password="first")
    assert user.password == user._password
    assert user.password != "first"
    assert user.check_password("first") and not user.check_password("other")
    user.password = "second"
    assert user.check_password("second") and not user.check_password("first")
    user.update({"password": "third"})
    assert user.check_password("third")
    assert bcrypt.checkpw(b"third", user._password.encode())


def test_the_cost_comes_from_the_app_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BCRYPT_LOG_ROUNDS of the app, else of the environment, else 12."""
    monkeypatch.setenv("BCRYPT_LOG_ROUNDS", "5")
    assert cost(hash_password("x")) == 5
    app = Flask(__name__)
    app.config["BCRYPT_LOG_ROUNDS"] = 6
    with app.app_context():
        assert cost(hash_password("x")) == 6
    assert cost(hash_password("x", rounds=4)) == 4
    monkeypatch.delenv("BCRYPT_LOG_ROUNDS")
    assert cost(hash_password("x")) == 12


@pytest.mark.parametrize(
    ("password", "error"),
    [
        ("a" * 73, ValueError),
        ("é" * 37, ValueError),  # 74 bytes in UTF-8
        (None, TypeError),
        (12345, TypeError),
    ],
)
def test_unusable_passwords_are_refused(password: Any, error: type[Exception]) -> None:
    """Over 72 bytes (bcrypt would cut it short), or not text at all: refused, nothing stored."""
    user = User(email="b@example.com")
    with pytest.raises(error) as caught:
        user.password = password
    assert user._password is None
    if isinstance(password, str):
        assert password not in str(caught.value)


def test_longest_password_is_accepted() -> None:
    """72 bytes is the limit itself; bytes are accepted as well as text."""
    user = User(email="c@example.com", password="a" * 72)
    assert user.check_password("a" * 72)
    assert password_matches(hash_password(b"raw bytes"), b"raw bytes")


@pytest.mark.parametrize("stored", [None, "", "github|12345", "$2b$04$broken"])
def test_checking_against_no_hash_is_false(stored: str | None) -> None:
    """Users with no password or a provider's id in place of a hash simply do not match."""
    user = User(email="d@example.com", _password=stored)
    assert user.check_password("github|12345") is False


def test_password_column_in_queries(ibutsu_db_session: Any) -> None:
    """``User.password`` is the stored column in SQL too; the hash survives a round trip."""
    user = User(email="e@example.com", password="stored")
    ibutsu_db_session.add(user)
    ibutsu_db_session.commit()
    hashed = user.password
    ibutsu_db_session.expunge_all()
    found = ibutsu_db_session.scalars(sa.select(User).where(User.password == hashed)).one()
    assert found.check_password("stored")
