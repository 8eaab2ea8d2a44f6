"""Helpers of Ibutsu Server's data layer: ``EXPLAIN`` statements and the superadmin at boot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ClauseElement, Executable, TextClause, func, inspect, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Query
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from ibutsu_server.db.base import db
from ibutsu_server.db.models import Project, User

__all__ = ["Explain", "add_superadmin", "pg_explain"]

# The transaction-level advisory lock that makes concurrent add_superadmin calls take turns.
SUPERADMIN_LOCK_KEY = 0x1B75_AD11
#: How long a SQLite connection waits for its turn to write, in ms: many processes booting
#: at once on a busy machine queue longer than SQLite's default 5 s.
SQLITE_TURN_WAIT_MS = 60_000


class Explain(Executable, ClauseElement):
    """``EXPLAIN [ANALYZE]`` of a statement (PostgreSQL).

    :param statement: a Core statement, an ORM ``Query`` or SQL text.
    :param analyze: run the statement and report real row counts and times.
    """

    inherit_cache = True
    _traverse_internals = [
        ("statement", InternalTraversal.dp_clauseelement),
        ("analyze", InternalTraversal.dp_boolean),
    ]

    def __init__(self, statement: Any, analyze: bool = False) -> None:
        if isinstance(statement, str):
            statement = text(statement)
        elif isinstance(statement, Query):
            statement = statement.statement
        self.statement: ClauseElement | TextClause = statement
        self.analyze = analyze


@compiles(Explain, "postgresql")
def pg_explain(element: Explain, compiler: SQLCompiler, **kwargs: Any) -> str:
    """Render :class:`Explain` for PostgreSQL."""
    analyze = "ANALYZE " if element.analyze else ""
    return f"EXPLAIN {analyze}{compiler.process(element.statement, **kwargs)}"


def _take_turns() -> None:
    """Serialise this session's transaction with every other add_superadmin call."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(SUPERADMIN_LOCK_KEY)))
    elif dialect == "sqlite":
        driver: Any = connection.connection.driver_connection
        if not driver.in_transaction:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_TURN_WAIT_MS}")
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def add_superadmin(
    *,
    name: str = "Ibutsu Admin",
    email: str,
    password: str | None = None,
    own_project: str | None = None,
) -> User | None:
    """Make sure a superadmin with ``email`` exists, and own a project if asked.

    A missing user is created active, with ``name`` and ``password``; an
    existing one that is not a superadmin is made one. Calls from processes
    booting at once take turns inside the database, so one user and one
    project are created, whoever comes first. Commits its work.

    :returns: the user when it already was a superadmin (nothing is changed);
        ``None`` otherwise, and when the database has no ``users`` table yet.
    :raises ValueError: when the user must be created and ``password`` is ``None``.
    """
    if "users" not in inspect(db.engine).get_table_names():
        return None
    session = db.session
    try:
        _take_turns()
        user = session.scalars(select(User).filter_by(email=email)).first()
        if user is not None and user.is_superadmin and own_project is None:
            session.commit()
            return user
        already = user is not None and user.is_superadmin
        if user is None:
            if password is None:
                raise ValueError(
                    f"No superadmin {email!r} exists yet, and no password was given to create"
                    " it with: set IBUTSU_SUPERADMIN_PASSWORD."
                )
            user = User(name=name, email=email, is_superadmin=True, is_active=True)
            user.password = password
            session.add(user)
        user.is_superadmin = True
        if own_project and not session.scalars(
            select(Project).filter_by(name=own_project, owner_id=user.id)
        ).first():
            session.add(Project(name=own_project, owner=user))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return user if already else None
