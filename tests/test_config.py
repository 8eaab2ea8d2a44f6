"""How the database URL is chosen (``resolve_database_url`` and ``create_app``),
and the ranges the guard's timeouts must fall in.

The URL tests build their apps with ``guard=False`` and never reach a database.
The range tests build them with the guard: a value out of range is refused
before any connection, and PostgreSQL is shown to take both ends of the DDL lock
timeout's range.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from guard_databases import CLOSED_PORT_URL, HEAD, app_config, snapshot, table_names, version_rows
from sqlalchemy.engine import make_url

from ibutsu_server import MIGRATIONS_DIR, create_app
from ibutsu_server.guard_names import GUARD_NAMES
from ibutsu_server.config import LIBPQ_DEFAULTS, engine_options, resolve_database_url
from flask_migration_guard.errors import GuardConfigError
from flask_migration_guard.settings import read_settings

INSTANCE = "/srv/ibutsu/instance"
DEFAULT_URL = f"sqlite:///{INSTANCE}/ibutsu.db"
CONFIG_URL = "sqlite:////data/from-config.db"
ENV_URL = "postgresql://env@db.example/from_env"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every database and guard variable the test process inherited."""
    for name in list(os.environ):
        if name == "SQLALCHEMY_DATABASE_URI" or name.startswith(("POSTGRES", "IBUTSU_DB_")):
            monkeypatch.delenv(name)


@pytest.fixture()
def instance_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point Flask's instance folder into tmp_path (it does not exist yet)."""
    path = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(path))
    return path


def _resolve(config: dict[str, str], environ: dict[str, str]) -> str:
    url, _ = resolve_database_url(config, environ, INSTANCE)
    return str(url)


def test_config_uri_beats_environment() -> None:
    """SQLALCHEMY_DATABASE_URI given to the factory wins over every variable."""
    environ = {
        "SQLALCHEMY_DATABASE_URI": ENV_URL,
        "POSTGRESQL_HOST": "pg.example",
        "POSTGRESQL_DB": "ibutsu",
    }
    assert resolve_database_url(
        {"SQLALCHEMY_DATABASE_URI": CONFIG_URL}, environ, INSTANCE
    ) == (CONFIG_URL, False)


def test_environment_uri_used_without_config_uri() -> None:
    """The variable is used when the config has no URI, even over POSTGRESQL_* settings."""
    config = {"POSTGRESQL_HOST": "pg.example", "POSTGRESQL_DB": "ibutsu"}
    assert resolve_database_url(config, {"SQLALCHEMY_DATABASE_URI": ENV_URL}, INSTANCE) == (
        ENV_URL,
        False,
    )


def test_empty_uri_does_not_count() -> None:
    """An empty SQLALCHEMY_DATABASE_URI falls through to the next rule."""
    assert _resolve({"SQLALCHEMY_DATABASE_URI": ""}, {"SQLALCHEMY_DATABASE_URI": ""}) == (
        DEFAULT_URL
    )


@pytest.mark.parametrize("host_key", ["HOST", "HOSTNAME"])
@pytest.mark.parametrize("db_key", ["DB", "DATABASE"])
def test_postgres_url_from_prefix(host_key: str, db_key: str) -> None:
    """HOST or HOSTNAME and DB or DATABASE, with PORT, USER, PASSWORD and SSLMODE."""
    environ = {
        f"POSTGRESQL_{host_key}": "pg.example",
        f"POSTGRESQL_{db_key}": "ibutsu",
        "POSTGRESQL_PORT": "6543",
        "POSTGRESQL_USER": "ibutsu_user",
        "POSTGRESQL_PASSWORD": "secret",
        "POSTGRESQL_SSLMODE": "require",
    }
    url, embedded = resolve_database_url({}, environ, INSTANCE)
    assert not embedded
    assert url == "postgresql://ibutsu_user:secret@pg.example:6543/ibutsu?sslmode=require"
    parsed = make_url(url)
    assert (parsed.drivername, parsed.host, parsed.port, parsed.database) == (
        "postgresql",
        "pg.example",
        6543,
        "ibutsu",
    )
    assert (parsed.username, parsed.password) == ("ibutsu_user", "secret")
    assert dict(parsed.query) == {"sslmode": "require"}


def test_postgres_url_minimal() -> None:
    """Host and database alone make a URL with no user, port or query."""
    url = _resolve({}, {"POSTGRES_HOST": "db", "POSTGRES_DB": "ibutsu"})
    assert url == "postgresql://db/ibutsu"


def test_postgresql_prefix_beats_postgres() -> None:
    """POSTGRESQL_* wins over POSTGRES_* when both are complete."""
    environ = {
        "POSTGRES_HOST": "old.example",
        "POSTGRES_DB": "old",
        "POSTGRESQL_HOST": "new.example",
        "POSTGRESQL_DB": "new",
    }
    parsed = make_url(_resolve({}, environ))
    assert (parsed.host, parsed.database) == ("new.example", "new")


def test_postgres_settings_in_config_beat_environment() -> None:
    """A setting given to the factory overrides the same variable."""
    environ = {"POSTGRESQL_HOST": "env.example", "POSTGRESQL_DB": "env_db"}
    parsed = make_url(_resolve({"POSTGRESQL_DB": "config_db"}, environ))
    assert (parsed.host, parsed.database) == ("env.example", "config_db")


@pytest.mark.parametrize(
    "incomplete",
    [
        {"POSTGRESQL_HOST": "half.example"},
        {"POSTGRESQL_HOSTNAME": "half.example", "POSTGRESQL_USER": "u"},
        {"POSTGRESQL_DB": "half"},
        {"POSTGRESQL_DATABASE": "half", "POSTGRESQL_PASSWORD": "p"},
    ],
)
def test_prefix_needs_host_and_db(incomplete: dict[str, str]) -> None:
    """A prefix with only one of host and database is skipped for the next one."""
    environ = {**incomplete, "POSTGRES_HOST": "full.example", "POSTGRES_DB": "full"}
    assert _resolve({}, environ) == "postgresql://full.example/full"
    assert _resolve({}, incomplete) == DEFAULT_URL


@pytest.mark.parametrize(
    "password",
    ["p@ss:word/with?odd#chars", "100%real&true=1", "sp ace+plus", "ünï©ødé", "a@b@c:d"],
)
def test_password_escaped(password: str) -> None:
    """Passwords with URL delimiters survive a round trip through make_url."""
    environ = {
        "POSTGRESQL_HOST": "pg.example",
        "POSTGRESQL_DB": "ibutsu",
        "POSTGRESQL_USER": "user",
        "POSTGRESQL_PASSWORD": password,
    }
    parsed = make_url(_resolve({}, environ))
    assert parsed.password == password
    assert (parsed.username, parsed.host, parsed.database) == ("user", "pg.example", "ibutsu")


def test_default_is_sqlite_in_instance_folder() -> None:
    """Without any setting the URL is ibutsu.db in the instance folder, flagged embedded."""
    assert resolve_database_url({}, {}, INSTANCE) == (DEFAULT_URL, True)


def test_create_app_config_beats_environment(
    monkeypatch: pytest.MonkeyPatch, instance_path: Path
) -> None:
    """create_app prefers its config over the environment and makes no instance folder."""
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", ENV_URL)
    monkeypatch.setenv("POSTGRESQL_HOST", "pg.example")
    monkeypatch.setenv("POSTGRESQL_DB", "ibutsu")
    app = create_app({"SQLALCHEMY_DATABASE_URI": CONFIG_URL}, guard=False)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == CONFIG_URL
    assert not instance_path.exists()


def test_create_app_uses_environment_uri(
    monkeypatch: pytest.MonkeyPatch, instance_path: Path
) -> None:
    """create_app reads SQLALCHEMY_DATABASE_URI from the environment."""
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", ENV_URL)
    monkeypatch.setenv("POSTGRESQL_HOST", "pg.example")
    monkeypatch.setenv("POSTGRESQL_DB", "ibutsu")
    assert create_app(guard=False).config["SQLALCHEMY_DATABASE_URI"] == ENV_URL


def test_create_app_builds_postgres_url(
    monkeypatch: pytest.MonkeyPatch, instance_path: Path
) -> None:
    """create_app builds the URL from POSTGRESQL_* before POSTGRES_*."""
    monkeypatch.setenv("POSTGRES_HOST", "old.example")
    monkeypatch.setenv("POSTGRES_DB", "old")
    monkeypatch.setenv("POSTGRESQL_HOSTNAME", "new.example")
    monkeypatch.setenv("POSTGRESQL_DATABASE", "new")
    monkeypatch.setenv("POSTGRESQL_USER", "ibutsu")
    monkeypatch.setenv("POSTGRESQL_PASSWORD", "a/b@c%d")
    parsed = make_url(create_app(guard=False).config["SQLALCHEMY_DATABASE_URI"])
    assert (parsed.host, parsed.database) == ("new.example", "new")
    assert (parsed.username, parsed.password) == ("ibutsu", "a/b@c%d")
    assert not instance_path.exists()


def test_create_app_embedded_default(instance_path: Path) -> None:
    """With nothing set, create_app uses instance/ibutsu.db and creates the folder."""
    app = create_app(guard=False)
    assert app.instance_path == str(instance_path)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance_path / 'ibutsu.db'}"
    assert instance_path.is_dir()
    assert not (instance_path / "ibutsu.db").exists()


LIBPQ = {"connect_args": LIBPQ_DEFAULTS}


@pytest.mark.parametrize(
    ("url", "configured", "expected"),
    [
        ("postgresql://u@h/db", None, {"use_native_hstore": False, **LIBPQ}),
        ("postgresql+psycopg2://u@h/db", {}, {"use_native_hstore": False, **LIBPQ}),
        ("postgresql+pg8000://u@h/db", None, {}),
        ("sqlite:///ibutsu.db", {"echo": True}, {"echo": True}),
        (
            "postgresql://u@h/db",
            {"use_native_hstore": True, "pool_size": 3},
            {"use_native_hstore": True, "pool_size": 3, **LIBPQ},
        ),
        (
            "postgresql://u@h/db?connect_timeout=3",
            {"connect_args": {"keepalives_idle": 60, "options": "-c x=y"}},
            {
                "use_native_hstore": False,
                "connect_args": {
                    **{k: v for k, v in LIBPQ_DEFAULTS.items() if k != "connect_timeout"},
                    "keepalives_idle": 60,
                    "options": "-c x=y",
                },
            },
        ),
    ],
)
def test_engine_options_defaults_under_the_config(
    url: str, configured: dict[str, object] | None, expected: dict[str, object]
) -> None:
    """psycopg engines skip the hstore lookup and get libpq's timeouts and keepalives,
    unless the URL or the config says otherwise."""
    assert engine_options(url, configured) == expected


def test_create_app_engine_skips_hstore_and_serves_no_static_files() -> None:
    """The app's engine has native hstore off; the app registers no static route."""
    configured = {"pool_pre_ping": True}
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": "postgresql://ibutsu@db.example/ibutsu",
            "SQLALCHEMY_ENGINE_OPTIONS": configured,
        },
        guard=False,
    )
    with app.app_context():
        from ibutsu_server.db import db

        assert db.engine.dialect.use_native_hstore is False  # type: ignore[attr-defined]
        assert db.engine.pool._pre_ping is True
    assert configured == {"pool_pre_ping": True}, "the caller's options are not changed"
    assert "static" not in {rule.endpoint for rule in app.url_map.iter_rules()}


ONE_DAY = "a number of seconds from 0 to 86400 (one day)"
DDL_RANGE = (
    "0 (wait forever) or a number of seconds from 0.001 to 2147483.647"
    " (PostgreSQL's lock_timeout, 1 to 2147483647 ms)"
)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("IBUTSU_DB_WAIT_TIMEOUT", "86400.5", ONE_DAY),
        ("IBUTSU_DB_WAIT_TIMEOUT", 1e10, ONE_DAY),
        ("IBUTSU_DB_LOCK_TIMEOUT", "1e10", ONE_DAY),
        ("IBUTSU_DB_LOCK_TIMEOUT", 86401, ONE_DAY),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", "3e6", DDL_RANGE),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", 2147483.648, DDL_RANGE),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", "0.0004", DDL_RANGE),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", 0.000999, DDL_RANGE),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", "1e-9", DDL_RANGE),
    ],
)
def test_seconds_out_of_range(key: str, value: Any, allowed: str) -> None:
    """A number of seconds outside its key's range is refused at boot, naming the key,
    the value and the range, even in ``off`` mode, which never connects.
    """
    with pytest.raises(GuardConfigError) as raised:
        create_app(app_config(CLOSED_PORT_URL, "off", **{key: value}))
    assert str(raised.value) == f"{key} must be {allowed}; got {value!r}."
    assert (raised.value.key, raised.value.value, raised.value.exit_code) == (key, value, 2)


def test_seconds_out_of_range_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value from the environment is held to the same range."""
    monkeypatch.setenv("IBUTSU_DB_LOCK_TIMEOUT", "1e10")
    with pytest.raises(GuardConfigError) as raised:
        create_app(app_config(CLOSED_PORT_URL, "off"))
    assert str(raised.value) == f"IBUTSU_DB_LOCK_TIMEOUT must be {ONE_DAY}; got '1e10'."


@pytest.mark.parametrize(
    ("key", "value", "seconds"),
    [
        ("IBUTSU_DB_WAIT_TIMEOUT", "0", 0.0),
        ("IBUTSU_DB_WAIT_TIMEOUT", "86400", 86400.0),
        ("IBUTSU_DB_LOCK_TIMEOUT", 0, 0.0),
        ("IBUTSU_DB_LOCK_TIMEOUT", 86400.0, 86400.0),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", "0", 0.0),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", "0.001", 0.001),
        ("IBUTSU_DB_DDL_LOCK_TIMEOUT", "2147483.647", 2147483.647),
    ],
)
def test_seconds_range_ends_accepted(key: str, value: Any, seconds: float) -> None:
    """Each end of each range is a valid setting."""
    app = Flask(__name__)
    app.config[key] = value
    settings = read_settings(
        app, GUARD_NAMES, default_mode="check", default_directory=MIGRATIONS_DIR
    )
    attribute = key.removeprefix("IBUTSU_DB_").lower()
    assert getattr(settings, attribute) == seconds


@contextmanager
def sql_seen() -> Iterator[list[str]]:
    """The statements every engine sends while the block runs."""
    seen: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


@pytest.mark.parametrize(("seconds", "milliseconds"), [("0.001", 1), ("2147483.647", 2147483647)])
def test_ddl_lock_timeout_ends_reach_postgresql(
    postgres_url: str, seconds: str, milliseconds: int
) -> None:
    """PostgreSQL takes both ends of the range: 1 ms (not 0, "wait forever") and its maximum."""
    with sql_seen() as seen:
        create_app(app_config(postgres_url, "upgrade", IBUTSU_DB_DDL_LOCK_TIMEOUT=seconds))
    assert f"SET lock_timeout = {milliseconds}" in seen
    assert version_rows(postgres_url) == [HEAD]


def test_ddl_lock_timeout_over_postgresql_maximum_refused_first(postgres_url: str) -> None:
    """3e6 s, over PostgreSQL's maximum lock_timeout, is a config error raised before the
    app opens any connection, instead of a migration failure: the database stays empty.
    """
    before = snapshot(postgres_url)
    connections: list[object] = []

    def opened(dbapi_connection: object, record: object) -> None:
        connections.append(dbapi_connection)

    sa.event.listen(sa.pool.Pool, "connect", opened)
    try:
        with pytest.raises(GuardConfigError) as raised:
            create_app(app_config(postgres_url, "upgrade", IBUTSU_DB_DDL_LOCK_TIMEOUT="3e6"))
    finally:
        sa.event.remove(sa.pool.Pool, "connect", opened)
    assert str(raised.value) == f"IBUTSU_DB_DDL_LOCK_TIMEOUT must be {DDL_RANGE}; got '3e6'."
    assert connections == []
    assert table_names(postgres_url) == []
    assert snapshot(postgres_url) == before
