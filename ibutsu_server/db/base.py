"""The one Flask-SQLAlchemy object, and short names for what models and callers use of it.

Ibutsu Server's code imports ``session``, the column types and helpers from
here (``from ibutsu_server.db.base import session, Integer``); each name is the
very object of the same name on :data:`db`.
"""

from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every Ibutsu model."""


db = SQLAlchemy(model_class=Base)

session = db.session
Model = db.Model
Boolean = db.Boolean
Column = db.Column
DateTime = db.DateTime
Float = db.Float
ForeignKey = db.ForeignKey
Integer = db.Integer
LargeBinary = db.LargeBinary
String = db.String
Table = db.Table
Text = db.Text
relationship = db.relationship
inspect = db.inspect

__all__ = [
    "Base",
    "Boolean",
    "Column",
    "DateTime",
    "Float",
    "ForeignKey",
    "Integer",
    "LargeBinary",
    "Model",
    "String",
    "Table",
    "Text",
    "db",
    "inspect",
    "relationship",
    "session",
]
