"""Bad input, one table: every case names what was found, what was expected and the fix.

Each case boots ``create_app`` in ``upgrade`` mode (so even the mode that may
write is shown to write nothing), then runs ``flask db status``, and checks:

- the error class, and the state or the setting it is about;
- that the message holds what was found, what was expected and the command
  or setting that fixes it;
- the exit code of ``flask db status`` (2 config or connection, 3 upgradable,
  4 refused), in-process through click, or in a subprocess where the
  configuration must come from the environment;
- that the database is unchanged (and no database was created);
- that the password of the URL appears nowhere: not in the exception or its
  causes, not in the command's output, not in the logs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from guard_databases import (
    CASES_BY_NAME,
    HEAD,
    TWO_HEADS,
    TWO_HEADS_DIR,
    UNKNOWN_REVISION,
    app_config,
    execute,
    fresh_url,
    snapshot,
)
from guard_processes import WAIT, query
from test_cli import flask_db_loading_the_app

from flask import Flask

from ibutsu_server import MIGRATIONS_DIR, create_app
from ibutsu_server.db.legacy import BASELINE_REVISION
from flask_migration_guard import MigrationGuard, StateName
from ibutsu_server.guard_names import GUARD_NAMES
from flask_migration_guard.errors import (
    BrokenVersionTableError,
    DatabaseUnavailableError,
    GuardConfigError,
    GuardError,
    LegacyTooOldError,
    LegacyUnprovenError,
    MigrationFailedError,
    MultipleHeadsError,
    UnknownRevisionError,
    UnversionedDatabaseError,
)
from flask_migration_guard.connect import masked_url

pytestmark = pytest.mark.usefixtures("clean_environment")


PASSWORD = "Sup3r-Secret-pw"
URI = "SQLALCHEMY_DATABASE_URI"
NO_SUCH_ROLE = "ibutsu_no_such_role"
URL_EXPECTED = "must be a database URL such as 'postgresql://user:password@host:5432/ibutsu'"
SECONDS_EXPECTED = "must be a number of seconds, 0 or more"
REFUSED_EXPECTED = "Expected a database at '{head}', one behind it, an empty one"
CANNOT_LOG_IN_EXPECTED = (
    "Expected that user and database to exist, and the user to be allowed to log in"
)
CANNOT_LOG_IN_FIX = "fix SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*), or create them on the server"
FLASK_DB = "flask --app ibutsu_server db"
LEGACY_UNPROVEN_FIX = f"'{FLASK_DB} stamp {BASELINE_REVISION}' then '{FLASK_DB} upgrade'"
LEGACY_TOO_OLD_FIX = "Upgrade it with the last pre-Alembic release (2.8.x)"
AMBIGUOUS_FOUND = "(found 2 '@' after '://', so where the password ends is ambiguous"
AMBIGUOUS_EXPECTED = "must be a URL with at most one '@' after '://', the one before the host"
AMBIGUOUS_FIX = "percent-encode each '@' in the password as '%40'"
UNSUPPORTED_EXPECTED = "must be a URL of a supported database, 'postgresql' or 'sqlite'"
UNSUPPORTED_FIX = "point SQLALCHEMY_DATABASE_URI at a PostgreSQL database"
UNAVAILABLE_EXPECTED = "Expected a server to answer there within IBUTSU_DB_WAIT_TIMEOUT"
UNAVAILABLE_FIX = (
    "check SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*) and that the server runs,"
    " or raise IBUTSU_DB_WAIT_TIMEOUT"
)


@dataclass(frozen=True)
class Where:
    """Where a case runs: its own database, and the role made for it.

    :ivar database: the database's URL as the tests' superuser reaches it.
    :ivar role: the role made for the case, or ``""``.
    :ivar tmp: the test's temporary folder.
    """

    database: str
    dialect: str
    role: str
    tmp: Path

    @property
    def name(self) -> str:
        return str(sa.make_url(self.database).database)

    def url(self, **parts: Any) -> str:
        """The database's URL with a password (trust auth ignores it) and ``parts`` changed."""
        if self.dialect == "sqlite":
            return self.database
        url = sa.make_url(self.database).set(password=PASSWORD, **parts)
        return url.render_as_string(hide_password=False)

    def fields(self) -> dict[str, str]:
        """What a case's words may refer to: ``{db}``, ``{host}``, ``{port}``, ``{role}``,
        ``{tmp}``, ``{head}``."""
        url = sa.make_url(self.database)
        return {
            "db": self.name,
            "host": str(url.host),
            "port": str(url.port or 5432),
            "role": self.role,
            "tmp": str(self.tmp),
            "head": HEAD,
        }


def _nothing(where: Where) -> None:
    """Leave the database empty."""


def _as_case(name: str) -> Callable[[Where], None]:
    """Build the database as the guard_databases case ``name`` does."""

    def build(where: Where) -> None:
        CASES_BY_NAME[name].build(where.database)

    return build


def _no_create_on_public(where: Where) -> None:
    """Take CREATE on schema public from PUBLIC (PostgreSQL 15 does not grant it anyway)."""
    execute(where.database, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def _folder_without_env_py(where: Where) -> None:
    (where.tmp / "no_env" / "versions").mkdir(parents=True)


def _at_database(where: Where) -> dict[str, Any]:
    return {URI: where.url()}


def _at_in_password(where: Where, **parts: Any) -> str:
    """The database's URL with an ``@`` in the password, percent-encoded as ``%40``.

    Each side of the ``@`` is :data:`PASSWORD`, so either half showing anywhere fails
    the test.
    """
    url = sa.make_url(where.database).set(password=f"{PASSWORD}@{PASSWORD}", **parts)
    return url.render_as_string(hide_password=False)


def _unencoded_at_in_password(where: Where, **parts: Any) -> str:
    """The same URL with the ``@`` left as it is: SQLAlchemy would end the password
    there and read the rest as part of the host."""
    return _at_in_password(where, **parts).replace("%40", "@")


@dataclass(frozen=True)
class BadInput:
    """One bad input and everything the guard must say about it.

    :ivar found: words of the message that say what was found.
    :ivar expected: words that say what was expected.
    :ivar fix: words that name the command or setting that fixes it.
    :ivar exit_code: of ``flask db status``.
    :ivar state: the state the error carries, for database states.
    :ivar key: the setting a :class:`GuardConfigError` names.
    :ivar build: turns the case's empty database into the situation.
    :ivar settings: the settings to boot with (besides mode and wait timeout).
    :ivar role: a role to make first: ``"nologin"`` or ``"readonly"`` (login, nothing more).
    :ivar environment: the settings come from the environment; the command runs in a
        subprocess.
    :ivar status_words: what ``db status`` prints, when not the message's words.

    The words may hold ``{db}``, ``{host}``, ``{port}``, ``{role}``, ``{tmp}`` and ``{head}``.
    """

    name: str
    error: type[GuardError]
    found: tuple[str, ...]
    expected: str
    fix: str
    exit_code: int
    state: StateName | None = None
    key: str | None = None
    build: Callable[[Where], None] = _nothing
    settings: Callable[[Where], Mapping[str, Any]] = _at_database
    role: str | None = None
    environment: bool = False
    status_words: tuple[str, ...] | None = None
    dialects: tuple[str, ...] = ("postgresql",)

    def words(self, where: Where) -> list[str]:
        return [word.format(**where.fields()) for word in (*self.found, self.expected, self.fix)]

    def __str__(self) -> str:
        return self.name


def _refused(
    name: str,
    error: type[GuardError],
    state: StateName,
    found: tuple[str, ...],
    fix: str,
    *,
    expected: str = REFUSED_EXPECTED,
    build: Callable[[Where], None] | None = None,
    settings: Callable[[Where], Mapping[str, Any]] = _at_database,
) -> BadInput:
    """A database state every mode refuses, on both dialects."""
    return BadInput(
        name,
        error,
        (f"Refusing to use the database ({state.value})", *found),
        expected,
        fix,
        exit_code=4,
        state=state,
        build=build or _as_case(name),
        settings=settings,
        dialects=("sqlite", "postgresql"),
    )


def _bad_url(
    name: str,
    url: Callable[[Where], str],
    found: tuple[str, ...],
    *,
    expected: str = URL_EXPECTED,
    fix: str = "SQLALCHEMY_DATABASE_URI must be",
    environment: bool = False,
) -> BadInput:
    """A SQLALCHEMY_DATABASE_URI refused before any engine exists."""
    return BadInput(
        name,
        GuardConfigError,
        found,
        expected,
        fix,
        exit_code=2,
        key=URI,
        settings=lambda w: {URI: url(w)},
        environment=environment,
    )


def _unreachable(
    name: str,
    settings: Callable[[Where], Mapping[str, Any]],
    found: tuple[str, ...],
    *,
    environment: bool = False,
) -> BadInput:
    """A database no server answers for within the wait timeout."""
    return BadInput(
        name,
        DatabaseUnavailableError,
        found,
        UNAVAILABLE_EXPECTED,
        UNAVAILABLE_FIX,
        exit_code=2,
        settings=settings,
        environment=environment,
    )


CASES = (
    # The URL and the settings: nothing is read from the database.
    _bad_url(
        "malformed_url_port_not_a_number",
        lambda w: f"postgresql://postgres:{PASSWORD}@127.0.0.1:notaport/{w.name}",
        found=(
            "got 'postgresql://postgres:***@127.0.0.1:notaport/{db}'",
            "(invalid literal for int() with base 10: 'notaport')",
        ),
    ),
    _bad_url(
        "unknown_url_scheme_from_the_environment",
        lambda w: f"nonsense://postgres:{PASSWORD}@127.0.0.1/{w.name}",
        found=(
            "got 'nonsense://postgres:***@127.0.0.1/{db}'",
            "(Can't load plugin: sqlalchemy.dialects:nonsense)",
        ),
        environment=True,
    ),
    _bad_url(
        "malformed_url_one_slash",
        lambda w: f"postgresql:/postgres:{PASSWORD}@127.0.0.1/{w.name}",
        found=(
            "got 'postgresql:/postgres:***@127.0.0.1/{db}'",
            "(Could not parse SQLAlchemy URL from given URL string)",
        ),
    ),
    _bad_url(
        # the password reads as the port, of a host named after the user
        "malformed_url_host_missing",
        lambda w: f"postgresql://postgres:{PASSWORD}/{w.name}",
        found=(
            "got 'postgresql://postgres:***/{db}'",
            "(invalid literal for int() with base 10: '***')",
        ),
    ),
    _bad_url(
        "unencoded_at_in_password",
        _unencoded_at_in_password,
        found=("got 'postgresql://***@{host}:{port}/{db}'", AMBIGUOUS_FOUND),
        expected=AMBIGUOUS_EXPECTED,
        fix=AMBIGUOUS_FIX,
    ),
    _bad_url(
        "unencoded_at_in_password_port_not_a_number_from_the_environment",
        lambda w: f"postgresql://postgres:{PASSWORD}@{PASSWORD}@127.0.0.1:notaport/{w.name}",
        found=("got 'postgresql://***@127.0.0.1:notaport/{db}'", AMBIGUOUS_FOUND),
        expected=AMBIGUOUS_EXPECTED,
        fix=AMBIGUOUS_FIX,
        environment=True,
    ),
    _bad_url(
        "unsupported_dialect_mssql",
        lambda w: f"mssql+pyodbc://sa:{PASSWORD}@127.0.0.1:1433/{w.name}",
        found=(
            "got 'mssql+pyodbc://sa:***@127.0.0.1:1433/{db}'",
            "(found dialect 'mssql', which Ibutsu's migrations do not support",
        ),
        expected=UNSUPPORTED_EXPECTED,
        fix=UNSUPPORTED_FIX,
    ),
    _bad_url(
        "unsupported_dialect_oracle_from_the_environment",
        lambda w: f"oracle+oracledb://ibutsu:{PASSWORD}@127.0.0.1:1521/{w.name}",
        found=(
            "got 'oracle+oracledb://ibutsu:***@127.0.0.1:1521/{db}'",
            "(found dialect 'oracle', which Ibutsu's migrations do not support",
        ),
        expected=UNSUPPORTED_EXPECTED,
        fix=UNSUPPORTED_FIX,
        environment=True,
    ),
    BadInput(
        "postgresql_port_not_a_number_from_the_environment",
        GuardConfigError,
        found=("got 'notaport'",),
        expected="must be a port number, such as '5432'",
        fix="POSTGRESQL_PORT must be",
        exit_code=2,
        key="POSTGRESQL_PORT",
        settings=lambda w: {
            "POSTGRESQL_HOST": "127.0.0.1",
            "POSTGRESQL_PORT": "notaport",
            "POSTGRESQL_DB": w.name,
            "POSTGRESQL_USER": "postgres",
            "POSTGRESQL_PASSWORD": PASSWORD,
        },
        environment=True,
    ),
    BadInput(
        "unknown_mode",
        GuardConfigError,
        found=("got 'sometimes'",),
        expected="must be one of 'check', 'wait', 'upgrade', 'off'",
        fix="IBUTSU_DB_MIGRATE must be",
        exit_code=2,
        key="IBUTSU_DB_MIGRATE",
        settings=lambda w: {URI: w.url(), "IBUTSU_DB_MIGRATE": "sometimes"},
    ),
    BadInput(
        "negative_wait_timeout",
        GuardConfigError,
        found=("got '-1'",),
        expected=SECONDS_EXPECTED,
        fix="IBUTSU_DB_WAIT_TIMEOUT must be",
        exit_code=2,
        key="IBUTSU_DB_WAIT_TIMEOUT",
        settings=lambda w: {URI: w.url(), "IBUTSU_DB_WAIT_TIMEOUT": "-1"},
    ),
    BadInput(
        "non_numeric_lock_timeout",
        GuardConfigError,
        found=("got 'soon'",),
        expected=SECONDS_EXPECTED,
        fix="IBUTSU_DB_LOCK_TIMEOUT must be",
        exit_code=2,
        key="IBUTSU_DB_LOCK_TIMEOUT",
        settings=lambda w: {URI: w.url(), "IBUTSU_DB_LOCK_TIMEOUT": "soon"},
    ),
    BadInput(
        "migrations_folder_without_env_py",
        GuardConfigError,
        found=("got '{tmp}/no_env'",),
        expected="must be a folder holding Alembic's env.py",
        fix="IBUTSU_DB_MIGRATIONS_DIR must be",
        exit_code=2,
        key="IBUTSU_DB_MIGRATIONS_DIR",
        build=_folder_without_env_py,
        settings=lambda w: {URI: w.url(), "IBUTSU_DB_MIGRATIONS_DIR": f"{w.tmp}/no_env"},
    ),
    BadInput(
        "sqlite_file_in_a_missing_folder",
        GuardConfigError,
        found=(
            "got 'sqlite:///{tmp}/missing/ibutsu.db'",
            "the folder '{tmp}/missing' does not exist",
        ),
        expected="must be a SQLite file in a folder that exists",
        fix="create it, or fix the path",
        exit_code=2,
        key="SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*)",
        settings=lambda w: {URI: f"sqlite:///{w.tmp}/missing/ibutsu.db"},
        dialects=("sqlite",),
    ),
    BadInput(
        "sqlite_path_that_is_a_folder",
        GuardConfigError,
        found=(
            "got 'sqlite:///{tmp}/a_folder'",
            "'{tmp}/a_folder' cannot be opened: unable to open database file",
        ),
        expected="must be a SQLite file this process can open or create",
        fix="fix the path, or its permissions",
        exit_code=2,
        key="SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*)",
        build=lambda w: (w.tmp / "a_folder").mkdir(),
        settings=lambda w: {URI: f"sqlite:///{w.tmp}/a_folder"},
        dialects=("sqlite",),
    ),
    # Reaching the database.
    _unreachable(
        "unknown_host",
        lambda w: {URI: w.url(host="db.invalid")},
        found=(
            "on host 'db.invalid' as user 'postgres'",
            "(URL 'postgresql://postgres:***@db.invalid:{port}/{db}')",
            # the driver's own words follow; psycopg 3 and psycopg2 word them differently
        ),
    ),
    _unreachable(
        "unknown_host_encoded_at_in_password",
        lambda w: {URI: _at_in_password(w, host="db.invalid")},
        found=(
            "on host 'db.invalid' as user 'postgres'",
            "(URL 'postgresql://postgres:***@db.invalid:{port}/{db}')",
        ),
    ),
    _unreachable(
        "connection_refused_at_in_password_from_the_environment",
        # POSTGRESQL_* may hold any character: the URL built from them encodes it
        lambda w: {
            "POSTGRESQL_HOST": "127.0.0.1",
            "POSTGRESQL_PORT": "1",
            "POSTGRESQL_DB": w.name,
            "POSTGRESQL_USER": "postgres",
            "POSTGRESQL_PASSWORD": f"{PASSWORD}@{PASSWORD}",
        },
        found=(
            "on host '127.0.0.1' as user 'postgres'",
            "(URL 'postgresql://postgres:***@127.0.0.1:1/{db}')",
        ),
        environment=True,
    ),
    BadInput(
        "login_refused_role_cannot_log_in",
        DatabaseUnavailableError,
        found=("as user '{role}'", 'role "{role}" is not permitted to log in'),
        expected=CANNOT_LOG_IN_EXPECTED,
        fix=CANNOT_LOG_IN_FIX,
        exit_code=2,
        role="nologin",
        settings=lambda w: {URI: w.url(username=w.role)},
    ),
    BadInput(
        "role_does_not_exist",
        DatabaseUnavailableError,
        found=(f"as user '{NO_SUCH_ROLE}'", f'role "{NO_SUCH_ROLE}" does not exist'),
        expected=CANNOT_LOG_IN_EXPECTED,
        fix=CANNOT_LOG_IN_FIX,
        exit_code=2,
        settings=lambda w: {URI: w.url(username=NO_SUCH_ROLE)},
    ),
    BadInput(
        "database_does_not_exist",
        DatabaseUnavailableError,
        found=(
            "Cannot connect to database '{db}_missing'",
            'database "{db}_missing" does not exist',
        ),
        expected=CANNOT_LOG_IN_EXPECTED,
        fix=CANNOT_LOG_IN_FIX,
        exit_code=2,
        settings=lambda w: {URI: w.url(database=f"{w.name}_missing")},
    ),
    BadInput(
        "read_only_user_cannot_create_tables",
        MigrationFailedError,
        found=(
            (
                f"Revision {BASELINE_REVISION!r} failed with InsufficientPrivilege:"
                " permission denied for schema public"
            ),
            "The database stays at no revision",
            "The user '{role}' lacks a privilege",
        ),
        expected="expected it to own the schema, or to hold CREATE on it",
        fix="'GRANT CREATE ON SCHEMA public TO {role}'",
        # status only reads, and an empty database is one an upgrade fixes.
        exit_code=3,
        state=StateName.EMPTY,
        role="readonly",
        build=_no_create_on_public,
        settings=lambda w: {URI: w.url(username=w.role)},
        status_words=(
            "state:   empty",
            "Target database is not up to date: the database is empty",
            "Run 'flask --app ibutsu_server db upgrade'",
        ),
    ),
    # Database states no mode may touch: on both dialects.
    _refused(
        "empty_version_table",
        BrokenVersionTableError,
        StateName.BROKEN_VERSION_TABLE,
        found=("alembic_version holds no rows, which is not a valid set of heads",),
        fix="record the right revision with 'flask --app ibutsu_server db stamp <revision>'",
    ),
    _refused(
        "ancestor_in_version_table",
        BrokenVersionTableError,
        StateName.BROKEN_VERSION_TABLE,
        found=("alembic_version holds ", f"'{BASELINE_REVISION}'", "not a valid set of heads"),
        fix="record the right revision with 'flask --app ibutsu_server db stamp <revision>'",
    ),
    _refused(
        "unknown_revision",
        UnknownRevisionError,
        StateName.UNKNOWN_REVISION,
        found=(f"alembic_version holds '{UNKNOWN_REVISION}', which the scripts do not know",),
        fix=f"downgrade the database with that code ('{FLASK_DB} downgrade <revision>')",
    ),
    _refused(
        "multiple_script_heads",
        MultipleHeadsError,
        StateName.MULTIPLE_SCRIPT_HEADS,
        found=(
            (
                f"the script directory {TWO_HEADS_DIR!r} has several heads,"
                f" {', '.join(map(repr, TWO_HEADS))}"
            ),
        ),
        expected="Expected a database at the single head of the scripts",
        fix="Merge them with 'flask --app ibutsu_server db merge heads",
        build=_nothing,
        settings=lambda w: {URI: w.url(), "IBUTSU_DB_MIGRATIONS_DIR": TWO_HEADS_DIR},
    ),
    _refused(
        "legacy_version_7",
        LegacyTooOldError,
        StateName.LEGACY_TOO_OLD,
        found=("legacy version '7'", "below 9, the last legacy level"),
        expected="until meta.version is 9",
        fix=LEGACY_TOO_OLD_FIX,
    ),
    _refused(
        "legacy_version_abc",
        LegacyTooOldError,
        StateName.LEGACY_TOO_OLD,
        found=("legacy version 'abc'", "the version is not a number"),
        expected="until meta.version is 9",
        fix=LEGACY_TOO_OLD_FIX,
    ),
    _refused(
        "legacy_two_versions",
        LegacyUnprovenError,
        StateName.LEGACY_UNPROVEN,
        found=("meta has 2 version rows ('9', '9')",),
        expected="where one is expected",
        fix=LEGACY_UNPROVEN_FIX,
    ),
    _refused(
        "legacy_missing_column",
        LegacyUnprovenError,
        StateName.LEGACY_UNPROVEN,
        found=("but the schema does not match: column imports.created is missing",),
        fix=LEGACY_UNPROVEN_FIX,
    ),
    _refused(
        "unversioned",
        UnversionedDatabaseError,
        StateName.UNVERSIONED,
        found=("tables ('notes') but no alembic_version",),
        fix="Point SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*) at an empty or migrated database",
    ),
)

PARAMS = [
    pytest.param(case, dialect, id=f"{case.name}-{dialect}")
    for case in CASES
    for dialect in case.dialects
]


class Roles:
    """PostgreSQL roles made for one test, with unique names, dropped at its end."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.made: list[tuple[str, str]] = []

    def make(self, kind: str) -> str:
        """Make a ``nologin`` role, or a ``readonly`` one: it may log in, nothing more."""
        server = str(self.request.getfixturevalue("postgres_server_url"))
        name = f"ibutsu_{kind}_{uuid.uuid4().hex[:8]}"
        login = {"nologin": "NOLOGIN", "readonly": "LOGIN"}[kind]
        execute(server, f'CREATE ROLE "{name}" {login}')
        self.made.append((server, name))
        return name

    def drop_all(self) -> None:
        for server, name in self.made:
            execute(server, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture()
def roles(request: pytest.FixtureRequest) -> Iterator[Roles]:
    """Roles for the test; set up before its database, so dropped after it."""
    made = Roles(request)
    try:
        yield made
    finally:
        made.drop_all()


def databases_named_like(where: Where, request: pytest.FixtureRequest) -> list[str]:
    """The server's databases whose names start with the case database's name."""
    if where.dialect != "postgresql":
        return []
    server = str(request.getfixturevalue("postgres_server_url"))
    rows = query(
        server,
        "SELECT datname FROM pg_database WHERE starts_with(datname, :name) ORDER BY datname",
        name=where.name,
    )
    return [row[0] for row in rows]


def boot(settings: Mapping[str, Any], environment: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``create_app`` with ``settings`` in its config, or in the environment."""
    if environment:
        for key, value in settings.items():
            monkeypatch.setenv(key, str(value))
        create_app({"SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": sa.NullPool}, "TESTING": True})
    else:
        rest = dict(settings)
        create_app(app_config(rest.pop(URI), **rest))


def status_in_a_subprocess(settings: Mapping[str, Any], cwd: Path) -> tuple[int, str]:
    """``python -m flask --app ibutsu_server db status``, configured by the environment."""
    env = {**os.environ, **{key: str(value) for key, value in settings.items()}}
    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "ibutsu_server", "db", "status"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    return completed.returncode, completed.stdout + completed.stderr


def status(settings: Mapping[str, Any], environment: bool, cwd: Path) -> tuple[int, str]:
    """The exit code and output of ``flask db status``."""
    if environment:
        return status_in_a_subprocess(settings, cwd)
    rest = dict(settings)
    result = flask_db_loading_the_app("status", url=rest.pop(URI), **rest)
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += f"\n{type(result.exception).__name__}: {result.exception}"
    return result.exit_code, output


def texts(error: BaseException) -> list[str]:
    """The text of ``error``, its attributes, and every error chained to it."""
    found: list[str] = [repr(vars(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found.append(str(current))
        current = current.__cause__ or current.__context__
    return found


@pytest.mark.parametrize(("case", "dialect"), PARAMS)
def test_bad_input(
    case: BadInput,
    dialect: str,
    roles: Roles,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Boot in upgrade mode and run db status: the error, its words, the exit code,
    no write, and no password anywhere.
    """
    caplog.set_level(logging.DEBUG, logger="ibutsu_server")
    caplog.set_level(logging.DEBUG, logger="flask_migration_guard")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    role = roles.make(case.role) if case.role else ""
    where = Where(fresh_url(request, dialect), dialect, role, tmp_path)
    case.build(where)
    before = snapshot(where.database)
    databases = databases_named_like(where, request)
    settings = {
        "IBUTSU_DB_MIGRATE": "upgrade",
        "IBUTSU_DB_WAIT_TIMEOUT": 0.5,
        **case.settings(where),
    }
    words = case.words(where)

    with pytest.raises(case.error) as raised:
        boot(settings, case.environment, monkeypatch)
    error = raised.value
    assert type(error) is case.error
    if case.state is not None:
        assert error.state is not None and error.state.name is case.state
    if case.key is not None:
        assert isinstance(error, GuardConfigError) and error.key == case.key
    for word in words:
        assert word in error.message, f"{word!r} is not in the message:\n{error.message}"

    code, output = status(settings, case.environment, tmp_path)
    assert code == case.exit_code, output
    for word in case.status_words or words:
        assert word in output, f"{word!r} is not in the output of db status:\n{output}"

    assert snapshot(where.database) == before
    assert databases_named_like(where, request) == databases
    for text in (*texts(error), output, caplog.text):
        assert PASSWORD not in text


def _app_without_create_app(url: str, mode: str) -> Flask:
    """An app whose guard gets its engine from elsewhere than ``create_app``, which
    checks the URL: the guard must refuse an ambiguous one itself."""
    app = Flask(__name__)
    app.config.update(IBUTSU_DB_MIGRATE=mode, IBUTSU_DB_WAIT_TIMEOUT=0.5)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    MigrationGuard(app, directory=MIGRATIONS_DIR, engine=lambda _: engine, names=GUARD_NAMES)
    return app


def test_guard_refuses_an_engine_with_unencoded_at_before_connecting(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At boot and in ``flask db status``, an engine whose host holds part of the password
    is refused before any connection, with the URL masked up to the host."""
    caplog.set_level(logging.DEBUG, logger="ibutsu_server")
    caplog.set_level(logging.DEBUG, logger="flask_migration_guard")
    where = Where(postgres_url, "postgresql", "", tmp_path)
    url = _unencoded_at_in_password(where)
    before = snapshot(postgres_url)
    words = [
        "SQLALCHEMY_DATABASE_URI " + AMBIGUOUS_EXPECTED,
        "got 'postgresql://***@{host}:{port}/{db}'".format(**where.fields()),
        AMBIGUOUS_FOUND,
        AMBIGUOUS_FIX,
    ]

    with pytest.raises(GuardConfigError) as raised:
        _app_without_create_app(url, "upgrade")
    for word in words:
        assert word in raised.value.message, raised.value.message

    result = _app_without_create_app(url, "off").test_cli_runner().invoke(args=["db", "status"])
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.output, result.output

    assert snapshot(postgres_url) == before
    for text in (*texts(raised.value), result.output, caplog.text):
        assert PASSWORD not in text


def test_url_in_the_boot_log_line_is_masked(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A percent-encoded ``@`` in the password boots, logged as ``***``; an engine whose
    host holds part of a password renders masked up to the host."""
    caplog.set_level(logging.INFO, logger="ibutsu_server")
    caplog.set_level(logging.INFO, logger="flask_migration_guard")
    where = Where(postgres_url, "postgresql", "", tmp_path)
    host_on = "@{host}:{port}/{db}".format(**where.fields())

    create_app(app_config(_at_in_password(where), "upgrade"))
    assert f"Database postgresql://postgres:***{host_on}: at_head" in caplog.text
    assert PASSWORD not in caplog.text

    engine = sa.create_engine(_unencoded_at_in_password(where), poolclass=sa.NullPool)
    try:
        assert masked_url(engine) == f"postgresql://***{host_on}"
    finally:
        engine.dispose()
