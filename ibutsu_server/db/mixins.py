"""What every Ibutsu model shares: a UUID id and the dict conversions the API uses.

- ``to_dict()``: one key per column, ``id`` last; a ``data`` column appears as
  ``metadata`` (``additional_metadata`` on file models, whose ``content`` is
  left out). Values are the attributes' own Python values.
- ``Model.from_dict(**record)``: a new, unsaved instance; ``metadata`` becomes
  ``data``, ISO 8601 strings for DateTime columns become datetimes.
- ``update(record)``: changes the instance in place; new ``metadata`` is
  merged into the old, the new value winning.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import DateTime, LargeBinary, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from ibutsu_server.db.types import PortableUUID, as_uuid_text

M = TypeVar("M", bound="ModelMixin")


def new_id() -> str:
    """A new random id, as the hyphenated string every dialect stores."""
    return str(uuid.uuid4())


def merge_metadata(old: Any, new: Any) -> Any:
    """``new`` with the keys of ``old`` that it lacks or sets to ``None``, at every depth."""
    if new is None:
        return old
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    merged = dict(new)
    for key, old_value in old.items():
        merged[key] = merge_metadata(old_value, merged.get(key))
    return merged


def _parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)


class ModelMixin:
    """A UUID primary key made by the application, and the dict conversions."""

    METADATA_KEY: ClassVar[str] = "metadata"
    HIDDEN: ClassVar[frozenset[str]] = frozenset()

    id: Mapped[str] = mapped_column(PortableUUID(), primary_key=True, default=new_id)

    def to_dict(self) -> dict[str, Any]:
        """The row as a dict: columns in declaration order, ``id`` last."""
        record: dict[str, Any] = {}
        data_present = False
        for attribute in sa_inspect(type(self)).column_attrs:
            key = attribute.key
            if key == "data":
                data_present = True
            elif key != "id" and key not in self.HIDDEN:
                record[key] = getattr(self, key)
        record["id"] = self.id
        if data_present:
            data = getattr(self, "data", None)
            record[self.METADATA_KEY] = {} if data is None else data
        return record

    @classmethod
    def from_dict(cls: type[M], **record: Any) -> M:
        """A new instance from an API record; it is not added to any session."""
        record = {key: value for key, value in record.items() if key}
        if cls.METADATA_KEY in record:
            record["data"] = record.pop(cls.METADATA_KEY) or {}
        columns = sa_inspect(cls).columns
        for key, value in record.items():
            if isinstance(value, str) and key in columns and isinstance(
                columns[key].type, DateTime
            ):
                record[key] = _parse_datetime(value)
        return cls(**record)

    def update(self, record: dict[str, Any]) -> None:
        """Set the attributes ``record`` names; ``id`` is never changed.

        ``metadata`` (or ``data``) is merged into the current data: nested
        dicts are merged key by key, and a ``None`` cannot erase a value.
        Nothing is flushed or committed.
        """
        changes = {key: value for key, value in record.items() if key != "id"}
        if self.METADATA_KEY in changes or "data" in changes:
            new = changes.pop(self.METADATA_KEY, None)
            new = merge_metadata(changes.pop("data", None), new)
            changes["data"] = merge_metadata(getattr(self, "data", None), new)
        for key, value in changes.items():
            setattr(self, key, value)


class FileMixin(ModelMixin):
    """A model holding a file: its bytes stay out of ``to_dict``."""

    METADATA_KEY: ClassVar[str] = "additional_metadata"
    HIDDEN: ClassVar[frozenset[str]] = frozenset({"content"})

    content: Mapped[bytes | None] = mapped_column(LargeBinary)


@functools.cache
def _uuid_columns(mapper: Mapper[Any]) -> tuple[str, ...]:
    """A model's UUID columns, found once per model: the check below runs on every write."""
    return tuple(
        attribute.key
        for attribute in mapper.column_attrs
        if isinstance(attribute.columns[0].type, PortableUUID)
    )


def refuse_bad_uuids(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    """Refuse to write a string that is not a UUID into a UUID column on PostgreSQL.

    The column type sends such a string as NULL so that look-ups find nothing;
    a write must fail instead of storing NULL.
    """
    if connection.dialect.name != "postgresql":
        return
    for key in _uuid_columns(mapper):
        value = getattr(target, key)
        if value is not None and as_uuid_text(value) is None:
            raise ValueError(
                f"{mapper.class_.__name__}.{key} must be a UUID; got {value!r}."
            )


def watch_uuid_writes(base: type[Any]) -> None:
    """Install :func:`refuse_bad_uuids` for every model derived from ``base``."""
    for name in ("before_insert", "before_update"):
        event.listen(base, name, refuse_bad_uuids, propagate=True)
