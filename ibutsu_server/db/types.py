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


class PortableUUID(TypeDecorator[str]):
    """A UUID kept as a string: native ``uuid`` on PostgreSQL, ``CHAR(32)`` elsewhere.

    Values come back as strings on every dialect. Elsewhere than PostgreSQL the
    hyphenated 36-character form is stored, as Ibutsu Server always did (SQLite
    does not enforce the declared length).
    """

    impl = CHAR(32)
    cache_ok = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("as_uuid", None)
        super().__init__(*args, **kwargs)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        return dialect.type_descriptor(CHAR(32))

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, uuid.UUID):
            return str(value)
        return str(uuid.UUID(str(value)))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)


class PortableJSON(TypeDecorator[Any]):
    """JSON data: ``JSONB`` on PostgreSQL, the generic ``JSON`` type elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(JSON())
