"""Column types that are native on PostgreSQL and portable elsewhere.

Revision files import these, so their names and rendering must stay stable.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CHAR, JSON
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


def as_uuid_text(value: object) -> str | None:
    """The canonical text of ``value`` if it is a UUID (object or string), else ``None``."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            return None
    return None


class PortableUUID(TypeDecorator[Any]):
    """A UUID kept as a string: native ``uuid`` on PostgreSQL, ``CHAR(32)`` elsewhere.

    Values come back as strings (``uuid.UUID`` objects with ``as_uuid=True``).

    - Elsewhere than PostgreSQL a ``uuid.UUID`` is stored in its hyphenated
      36-character form (SQLite does not enforce the declared length) and any
      other value as it is, as Ibutsu Server always did.
    - On PostgreSQL a string that is not a UUID is sent as NULL: a look-up by
      such an id finds nothing instead of failing. Writing one is refused
      before it reaches the database (see :mod:`ibutsu_server.db.mixins`).
    """

    impl = CHAR(32)
    cache_ok = True

    def __init__(self, *args: Any, as_uuid: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.as_uuid = as_uuid

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        return dialect.type_descriptor(CHAR(32))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "postgresql" and value is not None:
            return as_uuid_text(value)
        return str(value) if isinstance(value, uuid.UUID) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if self.as_uuid:
            return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        return str(value)


class PortableJSON(TypeDecorator[Any]):
    """JSON data: ``JSONB`` on PostgreSQL, the generic ``JSON`` type elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(JSON())
