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
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DATABASE_URI_KEY = "SQLALCHEMY_DATABASE_URI"
POSTGRES_PREFIXES = ("POSTGRESQL", "POSTGRES")
DEFAULT_SQLITE_FILENAME = "ibutsu.db"

URL_EXPECTED = (
    "a database URL such as 'postgresql://user:password@host:5432/ibutsu'"
    " or 'sqlite:////path/to/ibutsu.db'"
)
# user:password@ in a URL too broken to parse; greedy up to the last "@", to mask too much
# rather than too little.
_USERINFO = re.compile(r"^([\w.+-]*://[^:/@?#]*:)(.*)@")


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
            from ibutsu_server.guard.errors import GuardConfigError

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


def is_in_memory(url: str) -> bool:
    """Whether ``url`` is a SQLite database in memory, private to one process and gone with it."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _masked(url: str) -> tuple[str, str]:
    """``url`` with its password replaced by ``***``, and the password (``""`` if none)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        match = _USERINFO.match(url)
        if match is None or not match.group(2):
            return url, ""
        return f"{match.group(1)}***@{url[match.end():]}", match.group(2)
    return parsed.render_as_string(hide_password=True), parsed.password or ""


def check_database_url(url: str) -> None:
    """Check that ``url`` parses and names a database SQLAlchemy knows, before any engine.

    :raises GuardConfigError: naming ``SQLALCHEMY_DATABASE_URI``, the URL with its
        password masked, and SQLAlchemy's reason.
    """
    try:
        make_url(url).get_dialect()
    except (ArgumentError, ValueError) as exc:
        from ibutsu_server.guard.errors import GuardConfigError

        masked, password = _masked(url)
        reason = str(exc).replace(password, "***") if password else str(exc)
        raise GuardConfigError(DATABASE_URI_KEY, masked, URL_EXPECTED, reason) from None


ENGINE_OPTIONS_KEY = "SQLALCHEMY_ENGINE_OPTIONS"


def engine_options(url: str, configured: Mapping[str, Any] | None) -> dict[str, Any]:
    """The engine options for ``url``: Ibutsu's defaults under what the config sets.

    On psycopg and psycopg2 Ibutsu turns off native hstore, which it never uses:
    otherwise every new engine looks the type up in the catalog on its first
    connection, a cost each process pays at boot.
    """
    defaults: dict[str, Any] = {}
    if make_url(url).get_driver_name() in ("psycopg", "psycopg2"):
        defaults["use_native_hstore"] = False
    return {**defaults, **(configured or {})}
