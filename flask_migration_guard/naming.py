"""What an app calls the guard's parts: config keys, lock, channel, command, version table.

Everything the guard shows a user or shares with other processes is named
here, so that one app's guard never speaks of another app, and two apps on one
server keep apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Names:
    """The names of one app's guard.

    :ivar prefix: of the config keys: ``<prefix>MIGRATE``, ``<prefix>WAIT_TIMEOUT``,
        ``<prefix>LOCK_TIMEOUT``, ``<prefix>DDL_LOCK_TIMEOUT``, ``<prefix>MIGRATIONS_DIR``.
    :ivar extension_key: the key in ``app.extensions``.
    :ivar lock: the migration lock's name; every process migrating one database must agree.
    :ivar channel: the PostgreSQL channel on which a lock holder announces its release.
    :ivar command: the ``flask`` command group's name, or ``None`` for no commands.
    :ivar invocation: how users run the app's CLI, for hints (``flask --app myapp``).
    :ivar url_setting: where the database URL is set, for hints.
    :ivar version_table: Alembic's version table, as env.py configures it.
    :ivar version_table_schema: its schema, or ``None`` for the connection's default.
        The schema history (:mod:`flask_migration_guard.history`) is kept beside it,
        in ``<version_table>_history``.
    :ivar package: the distribution whose version the schema history records for each
        revision applied, or ``None``.
    """

    prefix: str = "DB_GUARD_"
    extension_key: str = "migration_guard"
    lock: str = "flask_migration_guard"
    channel: str = "migration_guard_lock_released"
    command: str | None = "db"
    invocation: str = "flask"
    url_setting: str = "SQLALCHEMY_DATABASE_URI"
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    package: str | None = None

    def key(self, setting: str) -> str:
        """The config key of ``setting`` (``MIGRATE``, ``WAIT_TIMEOUT``, ...)."""
        return self.prefix + setting

    def command_line(self, arguments: str) -> str:
        """The command that runs the guard's ``arguments`` (``upgrade``), quoted for a hint."""
        if self.command is None:
            return f"'alembic {arguments}' (with this app's script directory)"
        return f"'{self.invocation} {self.command} {arguments}'"

    @property
    def history_table(self) -> str:
        """The schema history table's name, in the version table's schema."""
        return history_table_name(self.version_table)

    @property
    def qualified_version_table(self) -> str:
        """The version table as SQL names it: ``schema.table`` or ``table``."""
        return self._qualified(self.version_table)

    @property
    def qualified_history_table(self) -> str:
        """The schema history table as SQL names it: ``schema.table`` or ``table``."""
        return self._qualified(self.history_table)

    def _qualified(self, table: str) -> str:
        schema = self.version_table_schema
        return f"{schema}.{table}" if schema else table


def history_table_name(version_table: str) -> str:
    """The schema history table kept beside ``version_table``."""
    return f"{version_table}_history"


#: The names of a guard given none.
DEFAULT_NAMES = Names()
