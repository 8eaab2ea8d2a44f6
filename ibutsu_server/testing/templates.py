"""Migrated template databases, built once and cloned per test.

The schema is built by running the migrations to head, once. The result is
kept under a key made from the script directory's contents, so later runs
reuse it until a migration file changes:

- PostgreSQL: a template database ``ibutsu_tpl_<key>``, cloned with
  ``CREATE DATABASE ... TEMPLATE``; optionally kept in a tablespace of its own
  (on tmpfs, say: see :func:`template_name`), where its clones live too;
- SQLite: a migrated file ``<key>.db`` in a cache folder, copied per test.

Builds are serialised (an advisory lock on the server, a file lock on disk),
so parallel workers build a template once and share it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import filelock
import sqlalchemy as sa

from flask_migration_guard.lock import advisory_key
from ibutsu_server.testing import postgres

#: Migrates the database at a URL to head.
Migrate = Callable[[str], None]

TEMPLATE_PREFIX = "ibutsu_tpl_"


def migrations_key(directory: str) -> str:
    """A digest of every file in the script directory (caches and bytecode aside)."""
    digest = hashlib.sha256()
    root = Path(directory)
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


class TablespaceError(RuntimeError):
    """The tablespace asked for cannot hold the template."""


def template_name(key: str, tablespace: str | None = None) -> str:
    """The template database's name for migration files ``key`` in ``tablespace``.

    A template in another tablespace is another template: its clones are made
    where the template lives, so asking for a tablespace must not reuse one
    kept in the default tablespace.
    """
    name = f"{TEMPLATE_PREFIX}{key}"
    if tablespace:
        name += "_" + hashlib.sha256(tablespace.encode()).hexdigest()[:8]
    return name


def _template_state(connection: sa.Connection, name: str) -> str:
    """``absent``, ``intact``, or ``lost`` (the catalog lists it, its files are gone)."""
    found = connection.execute(
        sa.text("SELECT pg_database_size(datname) FROM pg_database WHERE datname = :name"),
        {"name": name},
    ).first()
    if found is None:
        return "absent"
    return "lost" if found[0] is None else "intact"


def _check_tablespace(connection: sa.Connection, tablespace: str) -> None:
    location = connection.execute(
        sa.text("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = :name"),
        {"name": tablespace},
    ).first()
    if location is None:
        raise TablespaceError(
            f"tablespace {tablespace!r} does not exist on the server; create it (as a"
            f" superuser, in a folder the server's user owns): CREATE TABLESPACE"
            f" \"{tablespace}\" LOCATION '/dev/shm/ibutsu-pg', or unset"
            f" {postgres.TABLESPACE_VARIABLE}"
        )


def ensure_postgres_template(
    server_url: str, key: str, migrate: Migrate, tablespace: str | None = None
) -> str:
    """Return the name of the template database for ``key``, building it if needed.

    The template is built under another name and renamed when complete, so a
    half-built template is never cloned. One whose files were lost (a tmpfs
    tablespace after a reboot) is dropped and built again.
    """
    name = template_name(key, tablespace)
    engine = postgres.admin_engine(server_url)
    try:
        with engine.connect() as connection:
            lock = advisory_key(f"ibutsu_server.testing.template.{name}")
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": lock})
            try:
                state = _template_state(connection, name)
                if state == "lost":
                    _drop_template(connection, name)
                if state != "intact":
                    if tablespace:
                        _check_tablespace(connection, tablespace)
                    building = f"{name}_building"
                    postgres.drop_database(server_url, building)
                    url = postgres.create_database(server_url, building, tablespace=tablespace)
                    migrate(url)
                    connection.exec_driver_sql(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
                    connection.exec_driver_sql(f'ALTER DATABASE "{name}" IS_TEMPLATE true')
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": lock})
    finally:
        engine.dispose()
    return name


def _drop_template(connection: sa.Connection, name: str) -> None:
    connection.exec_driver_sql(f'ALTER DATABASE "{name}" IS_TEMPLATE false')
    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_postgres_template(server_url: str, key: str, tablespace: str | None = None) -> None:
    """Drop the template database of ``key`` in ``tablespace``, if there is one."""
    name = template_name(key, tablespace)
    engine = postgres.admin_engine(server_url)
    try:
        with engine.connect() as connection:
            if _template_state(connection, name) != "absent":
                _drop_template(connection, name)
    finally:
        engine.dispose()


def drop_postgres_templates(server_url: str, keep_key: str | None = None) -> list[str]:
    """Drop the template databases (all, or all but those of ``keep_key``); return their names.

    Templates of older migration files pile up otherwise: ``pytest
    --ibutsu-db-drop-templates`` calls this at the start of a run.
    """
    engine = postgres.admin_engine(server_url)
    dropped = []
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE :prefix"),
                {"prefix": f"{TEMPLATE_PREFIX}%"},
            )
            kept = f"{TEMPLATE_PREFIX}{keep_key}" if keep_key else None
            for name in [row[0] for row in rows if not (kept and row[0].startswith(kept))]:
                _drop_template(connection, name)
                dropped.append(name)
    finally:
        engine.dispose()
    return dropped


def ensure_sqlite_template(cache_dir: str, key: str, migrate: Migrate) -> str:
    """Return the path of the migrated SQLite file for ``key``, building it if needed."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"{key}.db")
    with filelock.FileLock(f"{path}.lock"):
        if not os.path.exists(path):
            building = f"{path}.building"
            for leftover in (building, f"{building}.migration-lock"):
                if os.path.exists(leftover):
                    os.remove(leftover)
            migrate(f"sqlite:///{building}")
            _compact(building)
            os.replace(building, path)
            if os.path.exists(f"{building}.migration-lock"):
                os.remove(f"{building}.migration-lock")
    return path


def _compact(path: str) -> None:
    """VACUUM a migrated SQLite file: batch-mode table rebuilds leave free pages
    behind, and every copy would carry them, so long chains would copy slower."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("VACUUM")
    finally:
        connection.close()


def clone_sqlite(template_path: str, destination: str) -> str:
    """Copy the migrated file to ``destination`` and return its URL."""
    shutil.copyfile(template_path, destination)
    return f"sqlite:///{destination}"
