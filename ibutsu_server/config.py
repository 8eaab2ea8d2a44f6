"""Where the database is: resolving ``SQLALCHEMY_DATABASE_URI`` for the app factory.

The order follows Ibutsu Server's own rules, so an existing deployment keeps
pointing at the same database:

1. ``SQLALCHEMY_DATABASE_URI`` from the app config, then from the environment;
2. a PostgreSQL URL built from the ``POSTGRESQL_*`` variables, then from the
   ``POSTGRES_*`` ones (``HOST`` or ``HOSTNAME``, ``DB`` or ``DATABASE``,
   ``PORT``, ``USER``, ``PASSWORD``, ``SSLMODE``); a prefix counts only when
   both its host and its database are set;
3. the embedded default, a SQLite file ``ibutsu.db`` in the Flask instance folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from flask_migration_guard.errors import GuardConfigError
from flask_migration_guard.urls import (
    _masked_text,
    ambiguous_url_error,
    is_ambiguous,
    mask_url,
)


DATABASE_URI_KEY = "SQLALCHEMY_DATABASE_URI"
POSTGRES_PREFIXES = ("POSTGRESQL", "POSTGRES")
DEFAULT_SQLITE_FILENAME = "ibutsu.db"

URL_EXPECTED = (
    "a database URL such as 'postgresql://user:password@host:5432/ibutsu'"
    " or 'sqlite:////path/to/ibutsu.db'"
)
#: The dialects Ibutsu's migrations run on, as :meth:`URL.get_backend_name` names them.
SUPPORTED_DIALECTS = ("postgresql", "sqlite")
SUPPORTED_EXPECTED = "a URL of a supported database, 'postgresql' or 'sqlite'"
SUPPORTED_FIX = (
    "point SQLALCHEMY_DATABASE_URI at a PostgreSQL database, as in"
    " 'postgresql://user:password@host:5432/ibutsu', or at a SQLite file, as in"
    " 'sqlite:////path/to/ibutsu.db'"
)


def _first(settings: Mapping[str, Any], *keys: str) -> str | None:
    """Return the first non-empty value among ``keys``, as a string."""
    for key in keys:
        value = settings.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def postgres_url_from_settings(settings: Mapping[str, Any]) -> str | None:
    """Build a PostgreSQL URL from ``POSTGRESQL_*`` or ``POSTGRES_*`` settings.

    :param settings: app config and environment merged, the config winning.
    :return: a ``postgresql://`` URL, or ``None`` when no prefix names both a
        host and a database.
    :raises GuardConfigError: when the port is not a number.
    """
    for prefix in POSTGRES_PREFIXES:
        host = _first(settings, f"{prefix}_HOST", f"{prefix}_HOSTNAME")
        database = _first(settings, f"{prefix}_DB", f"{prefix}_DATABASE")
        if not (host and database):
            continue
        port = _first(settings, f"{prefix}_PORT")
        if port is not None and not port.strip().isdigit():
            raise GuardConfigError(f"{prefix}_PORT", port, "a port number, such as '5432'")
        sslmode = _first(settings, f"{prefix}_SSLMODE")
        url = URL.create(
            "postgresql",
            username=_first(settings, f"{prefix}_USER"),
            password=_first(settings, f"{prefix}_PASSWORD"),
            host=host,
            port=int(port) if port else None,
            database=database,
            query={"sslmode": sslmode} if sslmode else {},
        )
        return url.render_as_string(hide_password=False)
    return None


def default_sqlite_url(instance_path: str) -> str:
    """Return the embedded default: a SQLite file in the instance folder."""
    return f"sqlite:///{os.path.join(instance_path, DEFAULT_SQLITE_FILENAME)}"


def resolve_database_url(
    config: Mapping[str, Any], environ: Mapping[str, str], instance_path: str
) -> tuple[str, bool]:
    """Resolve the database URL for an app.

    :param config: the settings given to the app factory.
    :param environ: the process environment.
    :param instance_path: the Flask instance folder, home of the SQLite default.
    :return: the URL, and whether it is the embedded default.
    """
    settings: dict[str, Any] = {**environ, **config}
    explicit = _first(settings, DATABASE_URI_KEY)
    if explicit:
        return explicit, False
    postgres = postgres_url_from_settings(settings)
    if postgres:
        return postgres, False
    return default_sqlite_url(instance_path), True


def check_database_url(url: str) -> None:
    """Check ``url`` before any engine exists: it must be unambiguous, parse, and name
    a dialect SQLAlchemy knows and Ibutsu supports (:data:`SUPPORTED_DIALECTS`).

    :raises GuardConfigError: naming ``SQLALCHEMY_DATABASE_URI``, the URL with its
        password masked, what was expected and the fix: for a URL with more than one
        ``@`` after ``://``, a URL SQLAlchemy cannot parse or load, and a dialect
        other than PostgreSQL and SQLite.
    """
    if is_ambiguous(url):
        raise ambiguous_url_error(url)
    failure: str | None = None
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, ValueError) as exc:
        failure = str(exc)
    if failure is not None:
        # Raised outside the except block: SQLAlchemy's error, which may quote the
        # password, is not even the context of this one.
        masked, password = _masked_text(url)
        for hidden in {password, unquote(password)} - {""}:
            failure = failure.replace(hidden, "***")
        raise GuardConfigError(DATABASE_URI_KEY, masked, URL_EXPECTED, failure)
    dialect = parsed.get_backend_name()
    if dialect not in SUPPORTED_DIALECTS:
        reason = (
            f"found dialect {dialect!r}, which Ibutsu's migrations do not support:"
            f" {SUPPORTED_FIX}"
        )
        raise GuardConfigError(DATABASE_URI_KEY, mask_url(parsed), SUPPORTED_EXPECTED, reason)


#: PostgreSQL drivers, in the order tried when the URL names none and SQLAlchemy's
#: default for ``postgresql://`` is not installed (psycopg 3 from SQLAlchemy 2.1 on).
POSTGRESQL_DRIVERS = ("psycopg2", "psycopg")


def _installed(url: URL) -> bool:
    try:
        url.get_dialect().import_dbapi()
    except ImportError:
        return False
    return True


def with_installed_driver(url: str) -> str:
    """``url``, naming an installed driver when it names none and SQLAlchemy's default
    is missing: a ``postgresql://`` URL works with psycopg2 or psycopg 3, whichever is
    there. Any other URL is returned as it is."""
    parsed = make_url(url)
    if parsed.drivername != "postgresql" or _installed(parsed):
        return url
    for driver in POSTGRESQL_DRIVERS:
        candidate = parsed.set(drivername=f"postgresql+{driver}")
        if _installed(candidate):
            return candidate.render_as_string(hide_password=False)
    return url  # the engine will say which driver is missing


ENGINE_OPTIONS_KEY = "SQLALCHEMY_ENGINE_OPTIONS"


#: libpq's connection options the app's connections get unless the URL or the config sets
#: them: give up connecting after 10 s, and notice a peer that vanished (TCP keepalives
#: after 10 s idle, every 5 s, 3 times: about 25 s).
LIBPQ_DEFAULTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def engine_options(url: str, configured: Mapping[str, Any] | None) -> dict[str, Any]:
    """The engine options for ``url``: Ibutsu's defaults under what the config sets.

    On psycopg and psycopg2 (libpq) Ibutsu turns off native hstore, which it never
    uses (otherwise every new engine looks the type up in the catalog on its first
    connection, a cost each process pays at boot), and sets :data:`LIBPQ_DEFAULTS`
    where neither the URL's query nor ``connect_args`` names them.
    """
    options = dict(configured or {})
    parsed = make_url(url)
    if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
        return options
    options.setdefault("use_native_hstore", False)
    given = dict(options.get("connect_args") or {})
    for name, value in LIBPQ_DEFAULTS.items():
        if name not in parsed.query and name not in given:
            given[name] = value
    options["connect_args"] = given
    return options
