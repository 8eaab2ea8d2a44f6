"""What Ibutsu Server calls its migration guard's parts.

The lock and channel names are the ones every earlier release used, so that
processes of different releases on one database still take turns.
"""

from __future__ import annotations

from flask_migration_guard.naming import Names

GUARD_NAMES = Names(
    prefix="IBUTSU_DB_",
    extension_key="ibutsu_db_guard",
    lock="ibutsu_server.db.migrations",
    channel="ibutsu_migration_lock_released",
    command="db",
    invocation="flask --app ibutsu_server",
    url_setting="SQLALCHEMY_DATABASE_URI (or POSTGRESQL_*)",
    package="ibutsu-server-db",
)
